"""Voice-consent repository (OpenAI's ``audio.voice_consent``).

API (keyword-only; functions flush but never commit — the caller's ``session_scope`` does)::

    consent_id = new_consent_id()                     # "cons_..." : know the id before writing the recording
    consent = create_consent(session=s, consent_id=..., name="Ana", language="en-US",
                             recording=ConsentRecording(...))
    consent = get_consent(session=s, consent_id=...)  # ConsentNotFound
    items, has_more = list_consents(session=s, limit=20, after="cons_...")   # newest first, as OpenAI lists
    consent = rename_consent(session=s, consent_id=..., name="Ana B.")
    consent = delete_consent(session=s, consent_id=...)   # ConsentInUse while voices point at it

Ids are time-ordered (``new_id``), so ``after`` (an id, as OpenAI's cursor) is a keyset position.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voice_store.errors import ConsentInUse, ConsentNotFound
from voice_store.models.base import new_id, utcnow
from voice_store.models.voice_consents import VoiceConsent
from voice_store.models.voices import Voice
from voice_store.pagination import check_limit


@dataclass(frozen=True, slots=True)
class ConsentRecording:
    """The stored consent recording (already written to the blob store)."""

    blob_key: str
    content_type: str
    sha256: str
    duration_s: float


def new_consent_id() -> str:
    return new_id("cons")


def consent_blob_prefix(consent_id: str) -> str:
    return f"voice_consents/{consent_id}/"


def create_consent(
    *, session: Session, consent_id: str, name: str, language: str, recording: ConsentRecording
) -> VoiceConsent:
    consent = VoiceConsent(
        id=consent_id,
        name=name,
        language=language,
        recording_blob_key=recording.blob_key,
        recording_content_type=recording.content_type,
        recording_sha256=recording.sha256,
        duration_s=recording.duration_s,
        created_at=utcnow(),
    )
    session.add(consent)
    session.flush()
    return consent


def get_consent(*, session: Session, consent_id: str, for_update: bool = False) -> VoiceConsent:
    statement = select(VoiceConsent).where(VoiceConsent.id == consent_id)
    if for_update:
        statement = statement.with_for_update()
    consent = session.scalars(statement).one_or_none()
    if consent is None:
        raise ConsentNotFound(consent_id)
    return consent


def list_consents(
    *, session: Session, limit: int = 20, after: str | None = None
) -> tuple[list[VoiceConsent], bool]:
    """A page, newest first; ``after`` is the last id of the previous page. ``(items, has_more)``."""
    statement = select(VoiceConsent).order_by(VoiceConsent.id.desc()).limit(check_limit(limit) + 1)
    if after is not None:
        statement = statement.where(VoiceConsent.id < after)
    items = list(session.scalars(statement))
    return items[:limit], len(items) > limit


def rename_consent(*, session: Session, consent_id: str, name: str) -> VoiceConsent:
    consent = get_consent(session=session, consent_id=consent_id, for_update=True)
    consent.name = name
    session.flush()
    return consent


def count_voices(*, session: Session, consent_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Voice).where(Voice.consent_id == consent_id)) or 0


def delete_consent(*, session: Session, consent_id: str) -> VoiceConsent:
    """Delete the row (the caller then deletes its blobs); ``ConsentInUse`` while voices use it."""
    consent = get_consent(session=session, consent_id=consent_id, for_update=True)
    if in_use := count_voices(session=session, consent_id=consent_id):
        raise ConsentInUse(consent_id, in_use)
    session.delete(consent)
    session.flush()
    return consent
