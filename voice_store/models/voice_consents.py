"""Voice consent recordings (OpenAI's ``audio.voice_consent``): the speaker's recorded consent to be cloned.

The recording itself lives in the blob store (``recording_blob_key``); voices created through OpenAI's
``POST /v1/audio/voices`` point at the consent they were created under (``Voice.consent_id``), and a consent
that voices still use cannot be deleted (the foreign key restricts it, and the service says 409 first).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from voice_store.models.base import BLOB_KEY_LENGTH, ID_LENGTH, Base, UTCDateTime, utcnow

CONSENT_NAME_MAX_LENGTH = 200
CONSENT_LANGUAGE_MAX_LENGTH = 35  # a BCP 47 tag such as en-US (35 covers the registry's longest forms)


class VoiceConsent(Base):
    __tablename__ = "voice_consents"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(CONSENT_NAME_MAX_LENGTH))
    language: Mapped[str] = mapped_column(String(CONSENT_LANGUAGE_MAX_LENGTH))
    recording_blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_LENGTH))
    recording_content_type: Mapped[str] = mapped_column(String(100))
    recording_sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"VoiceConsent(id={self.id!r}, name={self.name!r})"
