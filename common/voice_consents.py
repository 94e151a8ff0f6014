"""OpenAI's voice consents: the rules for saving, listing, renaming and deleting consent recordings.

A consent recording is ingested exactly like a voice's reference audio (``VoiceLibrary.ingest``: the same size
cap, container sniffing, safe decoding and checks), its upload is stored as received in the blob store under
``voice_consents/<id>/``, then the row is committed (the blob is deleted again if the commit fails). Voices
made by ``POST /v1/audio/voices`` link their consent (``VoiceLibrary.create(consent_id=...)``); a consent in
use cannot be deleted (409 ``consent_in_use``), since a voice without its consent is what consents prevent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from common.audio.upload import ReferenceAudio
from common.errors import InvalidRequest
from voice_store import voice_consents
from voice_store.blobs import BlobStore
from voice_store.db import session_scope
from voice_store.errors import BlobStoreError, ConsentNotFound
from voice_store.models.voice_consents import (
    CONSENT_LANGUAGE_MAX_LENGTH,
    CONSENT_NAME_MAX_LENGTH,
    VoiceConsent,
)

log = logging.getLogger(__name__)

BCP47 = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    name: str
    language: str
    created_at: datetime

    @classmethod
    def of(cls, row: VoiceConsent) -> Consent:
        return cls(id=row.id, name=row.name, language=row.language, created_at=row.created_at)


@dataclass(frozen=True, slots=True)
class ConsentPage:
    items: list[Consent]
    has_more: bool


def clean_name(name: str | None) -> str:
    value = (name or "").strip()
    if not value:
        raise InvalidRequest("name is required", param="name")
    if len(value) > CONSENT_NAME_MAX_LENGTH:
        raise InvalidRequest(f"name must be at most {CONSENT_NAME_MAX_LENGTH} characters", param="name")
    return value


def clean_language(language: str | None) -> str:
    value = (language or "").strip()
    if not value:
        raise InvalidRequest("language is required (a BCP 47 tag such as en-US)", param="language")
    if len(value) > CONSENT_LANGUAGE_MAX_LENGTH or not BCP47.fullmatch(value):
        raise InvalidRequest(f"language {value!r} is not a BCP 47 tag such as en-US", param="language")
    return value


def check_consent(session: Session, consent_id: str) -> None:
    """A 400 naming ``consent`` when the consent is unknown or deleted (OpenAI answers a bad consent so)."""
    try:
        voice_consents.get_consent(session=session, consent_id=consent_id, for_update=True)
    except ConsentNotFound as e:
        raise InvalidRequest(
            f"voice consent {consent_id!r} not found", param="consent", code="consent_not_found"
        ) from e


class ConsentLibrary:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        ingest: Callable[..., ReferenceAudio],
        max_upload_bytes: int,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self.ingest = ingest  # VoiceLibrary.ingest: one upload path for every recording
        self.max_upload_bytes = max_upload_bytes

    def create(self, *, name: str | None, language: str | None, recording: ReferenceAudio) -> Consent:
        name, language = clean_name(name), clean_language(language)
        consent_id = voice_consents.new_consent_id()
        key = f"{voice_consents.consent_blob_prefix(consent_id)}recording.{recording.format.extension}"
        self._blobs.put(key, recording.original, content_type=recording.format.content_type)
        stored = voice_consents.ConsentRecording(
            blob_key=key,
            content_type=recording.format.content_type,
            sha256=recording.sha256,
            duration_s=recording.duration_s,
        )
        try:
            with session_scope(self._sessions, write=True) as session:
                row = voice_consents.create_consent(
                    session=session, consent_id=consent_id, name=name, language=language, recording=stored
                )
                return Consent.of(row)
        except BaseException:
            self._delete_blobs(consent_id)
            raise

    def get(self, consent_id: str) -> Consent:
        with session_scope(self._sessions) as session:
            return Consent.of(voice_consents.get_consent(session=session, consent_id=consent_id))

    def list(self, *, limit: int = 20, after: str | None = None) -> ConsentPage:
        with session_scope(self._sessions) as session:
            rows, has_more = voice_consents.list_consents(session=session, limit=limit, after=after)
            return ConsentPage(items=[Consent.of(r) for r in rows], has_more=has_more)

    def rename(self, consent_id: str, *, name: str | None) -> Consent:
        name = clean_name(name)
        with session_scope(self._sessions, write=True) as session:
            row = voice_consents.rename_consent(session=session, consent_id=consent_id, name=name)
            return Consent.of(row)

    def recording(self, consent_id: str) -> tuple[bytes, str]:
        with session_scope(self._sessions) as session:
            row = voice_consents.get_consent(session=session, consent_id=consent_id)
            key, content_type = row.recording_blob_key, row.recording_content_type
        return self._blobs.get(key), content_type

    def delete(self, consent_id: str) -> None:
        with session_scope(self._sessions, write=True) as session:
            voice_consents.delete_consent(session=session, consent_id=consent_id)
        self._delete_blobs(consent_id)

    def _delete_blobs(self, consent_id: str) -> None:
        try:
            self._blobs.delete_prefix(voice_consents.consent_blob_prefix(consent_id))
        except BlobStoreError as e:  # an orphan blob is harmless; a failed request after commit is not
            log.warning("could not delete the recording of consent %s: %s", consent_id, e)
