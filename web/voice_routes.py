"""The voice library API: ``/v1/voices`` (CRUD) and OpenAI's ``POST /v1/audio/voices``.

Handlers parse (``web.uploads``: capped multipart or JSON), call ``common.voice_library.VoiceLibrary`` in a
thread (database, blob store and audio decoding are blocking), and shape the answer. Errors are domain errors,
turned into the OpenAI envelope by ``web.errors``.

    POST   /v1/voices              multipart (name, file, ref_text?, language?, x_vector_only?) or JSON
                                   ({"name", "audio": base64, ...}) → 201 profile
    GET    /v1/voices?limit&after&name   → {"object": "list", "data": [...], "next_cursor", "has_more"}
    GET    /v1/voices/{id}         → profile
    GET    /v1/voices/{id}/audio   → the normalized reference WAV (``?original=true``: the upload as received)
    PATCH  /v1/voices/{id}         same fields, all optional; new audio or transcript → new version
    DELETE /v1/voices/{id}         → {"id", "object": "voice.deleted", "deleted": true}
    POST   /v1/audio/voices        OpenAI: multipart (name, audio_sample, consent) → {"id", "object", ...};
                                   ``consent`` is required: an id from /v1/audio/voice_consents (else 400)
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import InvalidRequest, Unavailable
from common.validation import error_reason
from common.voice_library import UNSET, VoiceLibrary, VoiceProfile
from web.deps import CurrentKey, StateDep
from web.errors import error_responses
from web.uploads import UploadBody, read_upload
from web.voices import CLONE_PREFIX

router = APIRouter()

FILE_FIELDS = ("file", "audio")
UPLOAD_ERRORS = error_responses(400, 409, 413, 415, 503)  # 401 and the 422-turned-400: web.openapi


def get_library(state: StateDep) -> VoiceLibrary:
    if state.services.voice_library is None:
        raise Unavailable("this server has no voice library configured")
    return state.services.voice_library


LibraryDep = Annotated[VoiceLibrary, Depends(get_library)]


class VoiceFields(BaseModel):
    """The text fields of a create or update (multipart strings are coerced: "true" → True)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    ref_text: str | None = Field(default=None, max_length=4000)
    language: str | None = Field(default=None, max_length=40)
    x_vector_only: bool | None = None
    consent: str | None = Field(default=None, max_length=200)  # OpenAI: /v1/audio/voice_consents id


def profile_json(profile: VoiceProfile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "object": "voice",
        "name": profile.name,
        "voice": f"{CLONE_PREFIX}{profile.name}",
        "language": profile.language,
        "ref_text": profile.ref_text,
        "x_vector_only": profile.x_vector_only,
        "version": profile.version,
        "duration_s": profile.duration_s,
        "original_content_type": profile.original_content_type,
        "created_at": int(profile.created_at.timestamp()),
        "updated_at": int(profile.updated_at.timestamp()),
    }


def _fields(body: UploadBody) -> VoiceFields:
    try:
        return VoiceFields.model_validate(body.fields)
    except ValidationError as e:
        first = e.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequest(f"{param}: {error_reason(first)}", param=param) from e


async def _upload(request: Request, library: VoiceLibrary, files: tuple[str, ...]) -> UploadBody:
    return await read_upload(request, max_file_bytes=library.limits.max_upload_bytes, file_fields=files)


async def _create(
    library: VoiceLibrary,
    body: UploadBody,
    fields: VoiceFields,
    *,
    file_field: str,
    consent_id: str | None = None,
) -> VoiceProfile:
    if not fields.name or not fields.name.strip():
        raise InvalidRequest("name is required", param="name")
    if body.file is None:
        raise InvalidRequest(f"the audio file is required (field {file_field!r})", param=file_field)
    await asyncio.to_thread(library.check_new_name, fields.name)
    audio = await asyncio.to_thread(library.ingest, body.file, param=body.file_param)
    return await asyncio.to_thread(
        library.create,
        name=fields.name,
        audio=audio,
        ref_text=fields.ref_text,
        language=fields.language,
        x_vector_only=fields.x_vector_only,
        consent_id=consent_id,
    )


@router.post("/v1/voices", status_code=201, responses=UPLOAD_ERRORS)
async def create_voice(request: Request, library: LibraryDep, _key: CurrentKey) -> dict[str, Any]:
    body = await _upload(request, library, FILE_FIELDS)
    return profile_json(await _create(library, body, _fields(body), file_field=FILE_FIELDS[0]))


@router.get("/v1/voices", responses=error_responses(503))
async def list_voices(
    library: LibraryDep,
    _key: CurrentKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=1000, description="next_cursor of the last page")] = None,
    name: Annotated[str | None, Query(max_length=200, description="case-insensitive substring")] = None,
) -> dict[str, Any]:
    page = await asyncio.to_thread(library.list, limit=limit, cursor=after, name_filter=name)
    return {
        "object": "list",
        "data": [profile_json(p) for p in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.next_cursor is not None,
    }


@router.get("/v1/voices/{voice_id}", responses=error_responses(404, 503))
async def get_voice(voice_id: str, library: LibraryDep, _key: CurrentKey) -> dict[str, Any]:
    return profile_json(await asyncio.to_thread(library.get, voice_id))


@router.get("/v1/voices/{voice_id}/audio", response_class=Response, responses=error_responses(404, 503))
async def get_voice_audio(
    voice_id: str, library: LibraryDep, _key: CurrentKey, original: bool = False
) -> Response:
    data, content_type = await asyncio.to_thread(library.reference_audio, voice_id, original=original)
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.patch("/v1/voices/{voice_id}", responses=error_responses(404) | UPLOAD_ERRORS)
async def update_voice(
    voice_id: str, request: Request, library: LibraryDep, _key: CurrentKey
) -> dict[str, Any]:
    body = await _upload(request, library, FILE_FIELDS)
    fields = _fields(body)
    audio = None
    if body.file is not None:
        audio = await asyncio.to_thread(library.ingest, body.file, param=body.file_param)
    given = fields.model_dump(exclude_unset=True, exclude={"consent"})
    if "name" in given and given["name"] is None:
        raise InvalidRequest("name cannot be removed", param="name")
    if "x_vector_only" in given and given["x_vector_only"] is None:
        raise InvalidRequest("x_vector_only must be true or false", param="x_vector_only")
    changes = {key: given.get(key, UNSET) for key in ("name", "ref_text", "language", "x_vector_only")}
    profile = await asyncio.to_thread(library.update, voice_id, audio=audio, **changes)
    return profile_json(profile)


@router.delete("/v1/voices/{voice_id}", responses=error_responses(404, 503))
async def delete_voice(voice_id: str, library: LibraryDep, _key: CurrentKey) -> dict[str, Any]:
    await asyncio.to_thread(library.delete, voice_id)
    return {"id": voice_id, "object": "voice.deleted", "deleted": True}


@router.post("/v1/audio/voices", status_code=201, responses=UPLOAD_ERRORS)
async def create_openai_voice(request: Request, library: LibraryDep, _key: CurrentKey) -> dict[str, Any]:
    """OpenAI's custom voices: ``audio_sample`` + ``name`` + ``consent`` (an existing consent, linked)."""
    body = await _upload(request, library, ("audio_sample",))
    fields = _fields(body)
    if not fields.consent or not fields.consent.strip():
        raise InvalidRequest("consent is required: the id of a voice consent recording", param="consent")
    profile = await _create(
        library, body, fields, file_field="audio_sample", consent_id=fields.consent.strip()
    )
    return {
        "id": profile.id,
        "object": "audio.voice",
        "name": profile.name,
        "created_at": int(profile.created_at.timestamp()),
    }
