"""OpenAI's voice consents: ``/v1/audio/voice_consents`` (the recorded consent a custom voice is made under).

    POST   /v1/audio/voice_consents              multipart (name, language, recording) → audio.voice_consent
    GET    /v1/audio/voice_consents?after&limit  → {"object": "list", "data", "first_id", "last_id",
                                                   "has_more"} (newest first)
    GET    /v1/audio/voice_consents/{id}         → audio.voice_consent
    POST   /v1/audio/voice_consents/{id}         JSON {"name"} → audio.voice_consent (metadata only)
    DELETE /v1/audio/voice_consents/{id}         → {"id", "object": "audio.voice_consent", "deleted": true};
                                                   409 consent_in_use while voices were made under it
    GET    /v1/audio/voice_consents/{id}/recording   the recording as uploaded (ours, not OpenAI's)

The recording goes through the voice upload path (``web.uploads`` cap, ``VoiceLibrary.ingest`` checks). Rules
live in ``common.voice_consents``; errors are domain errors mapped by ``web.errors``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.errors import InvalidRequest
from common.voice_consents import Consent, ConsentLibrary
from web.deps import CurrentKey
from web.errors import error_responses
from web.uploads import read_upload
from web.voice_routes import LibraryDep

router = APIRouter(prefix="/v1/audio/voice_consents", tags=["voices"])

RECORDING = "recording"


def get_consents(library: LibraryDep) -> ConsentLibrary:
    return library.consents()


ConsentsDep = Annotated[ConsentLibrary, Depends(get_consents)]


class ConsentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, description="the new label of the consent recording")


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.id,
        "object": "audio.voice_consent",
        "name": consent.name,
        "language": consent.language,
        "created_at": int(consent.created_at.timestamp()),
    }


@router.post("", responses=error_responses(400, 413, 415, 503))
async def create_consent(request: Request, consents: ConsentsDep, _key: CurrentKey) -> dict[str, Any]:
    body = await read_upload(request, max_file_bytes=consents.max_upload_bytes, file_fields=(RECORDING,))
    if body.file is None:
        raise InvalidRequest("the consent recording is required (field 'recording')", param=RECORDING)
    name, language = body.fields.get("name"), body.fields.get("language")
    for param, value in (("name", name), ("language", language)):
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{param} must be a string", param=param)
    recording = await asyncio.to_thread(consents.ingest, body.file, param=RECORDING)
    consent = await asyncio.to_thread(consents.create, name=name, language=language, recording=recording)
    return consent_json(consent)


@router.get("", responses=error_responses(400, 503))
async def list_consents(
    consents: ConsentsDep,
    _key: CurrentKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None, Query(max_length=100, description="the last id of the previous page")
    ] = None,
) -> dict[str, Any]:
    page = await asyncio.to_thread(consents.list, limit=limit, after=after)
    data = [consent_json(c) for c in page.items]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    }


@router.get("/{consent_id}", responses=error_responses(404, 503))
async def get_consent(consent_id: str, consents: ConsentsDep, _key: CurrentKey) -> dict[str, Any]:
    return consent_json(await asyncio.to_thread(consents.get, consent_id))


@router.post("/{consent_id}", responses=error_responses(400, 404, 503))
async def update_consent(
    consent_id: str, update: ConsentUpdate, consents: ConsentsDep, _key: CurrentKey
) -> dict[str, Any]:
    return consent_json(await asyncio.to_thread(consents.rename, consent_id, name=update.name))


@router.delete("/{consent_id}", responses=error_responses(404, 409, 503))
async def delete_consent(consent_id: str, consents: ConsentsDep, _key: CurrentKey) -> dict[str, Any]:
    await asyncio.to_thread(consents.delete, consent_id)
    return {"id": consent_id, "object": "audio.voice_consent", "deleted": True}


@router.get("/{consent_id}/recording", response_class=Response, responses=error_responses(404, 503))
async def get_recording(consent_id: str, consents: ConsentsDep, _key: CurrentKey) -> Response:
    data, content_type = await asyncio.to_thread(consents.recording, consent_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
