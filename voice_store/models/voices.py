"""Voice profiles and their cached clone prompts.

A profile's reference audio lives in the blob store: the upload as received (``original_blob_key``) and a
normalized 24 kHz mono copy (``audio_blob_key``). ``version`` increases whenever something that feeds the
clone prompt changes (audio, transcript, x-vector-only mode); clone prompts are cached per (voice, version,
model), because the speaker embedding's size depends on the model.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from voice_store.models.base import BLOB_KEY_LENGTH, ID_LENGTH, Base, UTCDateTime, utcnow

VOICE_NAME_MAX_LENGTH = 100


class Voice(Base):
    __tablename__ = "voices"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(VOICE_NAME_MAX_LENGTH))
    # NFKC + casefold of ``name``: the unique, case-insensitive lookup key (portable across SQLite/Postgres).
    # Collation "C" on Postgres: code-point order, as on SQLite, so listings sort the same on both.
    name_key: Mapped[str] = mapped_column(
        String(VOICE_NAME_MAX_LENGTH).with_variant(
            String(VOICE_NAME_MAX_LENGTH, collation="C"), "postgresql"
        ),
        unique=True,
    )
    language: Mapped[str] = mapped_column(String(32), default="auto")
    ref_text: Mapped[str | None] = mapped_column(Text)
    x_vector_only: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)

    original_blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_LENGTH))
    original_content_type: Mapped[str] = mapped_column(String(100))
    original_sha256: Mapped[str] = mapped_column(String(64), index=True)
    audio_blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_LENGTH))
    duration_s: Mapped[float]
    sample_rate: Mapped[int]
    # the OpenAI voice consent it was created under (``POST /v1/audio/voices``); None for /v1/voices uploads
    consent_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("voice_consents.id", ondelete="RESTRICT"), index=True
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    clone_prompts: Mapped[list[VoiceClonePrompt]] = relationship(
        back_populates="voice", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Voice(id={self.id!r}, name={self.name!r}, version={self.version})"


class VoiceClonePrompt(Base):
    """Where the clone prompt (speaker embedding + reference codes) of one voice version and model lives."""

    __tablename__ = "voice_clone_prompts"

    voice_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("voices.id", ondelete="CASCADE"), primary_key=True
    )
    voice_version: Mapped[int] = mapped_column(primary_key=True)
    model_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    voice: Mapped[Voice] = relationship(back_populates="clone_prompts")
