"""The voice library's rules: save, read, change and delete voice profiles (rows plus their audio blobs).

Used by the HTTP routes (in a thread) and by ``qwen3-tts voices import``. Synchronous on purpose: every call
is a short database unit of work plus blob I/O and, for new audio, one in-process decode (PyAV).

Order of effects. New audio is decoded and checked first, then written to the blob store under a key that
names its content (``voices/<id>/audio-<sha>/...``), then the row is committed. If the commit fails (a name
clash, say) the blobs just written are deleted; blobs a change made stale (replaced audio, clone prompts of
older versions) are deleted only after the commit. A failed blob delete leaves an orphan, never a row that
points at nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.audio.upload import IngestLimits, ReferenceAudio, ingest_audio
from common.contracts import SAMPLE_RATE
from common.voice_consents import ConsentLibrary, check_consent
from voice_store import voices
from voice_store.blobs import BlobStore
from voice_store.db import session_scope
from voice_store.errors import (
    BlobStoreError,
    InvalidInputError,
    VoiceNameTaken,
    VoiceNotFound,
)
from voice_store.models.voices import Voice
from voice_store.pagination import Page

log = logging.getLogger(__name__)

UNSET = voices.UNSET
MAX_LANGUAGE_LENGTH = 32
MAX_REF_TEXT_LENGTH = 2000
DEFAULT_LIMITS = IngestLimits()


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    """What clients see of a voice (the row, without storage details)."""

    id: str
    name: str
    language: str
    ref_text: str | None
    x_vector_only: bool
    version: int
    duration_s: float
    original_content_type: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, voice: Voice) -> VoiceProfile:
        return cls(
            id=voice.id,
            name=voice.name,
            language=voice.language,
            ref_text=voice.ref_text,
            x_vector_only=voice.x_vector_only,
            version=voice.version,
            duration_s=round(voice.duration_s, 3),
            original_content_type=voice.original_content_type,
            created_at=voice.created_at,
            updated_at=voice.updated_at,
        )


def audio_blob_keys(voice_id: str, audio: ReferenceAudio) -> tuple[str, str]:
    """(original, normalized) blob keys of one upload; content-named, so the same audio keeps its keys."""
    folder = f"{voices.voice_blob_prefix(voice_id)}audio-{audio.sha256[:16]}"
    return f"{folder}/original.{audio.format.extension}", f"{folder}/reference.wav"


def clean_language(language: str | None) -> str:
    value = (language or "auto").strip().lower() or "auto"
    if len(value) > MAX_LANGUAGE_LENGTH:
        raise InvalidInputError(f"language must be at most {MAX_LANGUAGE_LENGTH} characters")
    return value


def clean_ref_text(ref_text: str | None) -> str | None:
    value = (ref_text or "").strip() or None
    if value is not None and len(value) > MAX_REF_TEXT_LENGTH:
        raise InvalidInputError(f"ref_text must be at most {MAX_REF_TEXT_LENGTH} characters")
    return value


def check_mode(*, ref_text: str | None, x_vector_only: bool) -> None:
    if ref_text is None and not x_vector_only:
        raise InvalidInputError(
            "ref_text (the transcript of the audio) is required unless x_vector_only is true"
        )


class VoiceLibrary:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        limits: IngestLimits = DEFAULT_LIMITS,
        on_change: Callable[[str], None] = lambda voice_id: None,
    ) -> None:
        self._sessions = sessions
        self.blobs = blobs
        self.limits = limits
        self._on_change = on_change  # e.g. drop in-process cached clone prompts of the voice

    def consents(self) -> ConsentLibrary:
        """The voice consents, on this library's database and blob store, with its upload path."""
        return ConsentLibrary(
            sessions=self._sessions,
            blobs=self.blobs,
            ingest=self.ingest,
            max_upload_bytes=self.limits.max_upload_bytes,
        )

    def ingest(self, data: bytes, *, param: str | None = None) -> ReferenceAudio:
        return ingest_audio(data, limits=self.limits, param=param)

    def create(
        self,
        *,
        name: str,
        audio: ReferenceAudio,
        ref_text: str | None = None,
        language: str | None = None,
        x_vector_only: bool | None = None,
        consent_id: str | None = None,
    ) -> VoiceProfile:
        """Save a new voice; without a transcript it clones from the speaker embedding alone.

        With ``consent_id`` (OpenAI's ``POST /v1/audio/voices``) the consent must exist: it is locked in the
        voice's transaction, so a concurrent delete of the consent cannot leave the voice without one."""
        voices.normalize_voice_name(name)  # a bad name fails before any blob is written
        language, ref_text = clean_language(language), clean_ref_text(ref_text)
        x_vector_only = ref_text is None if x_vector_only is None else x_vector_only
        check_mode(ref_text=ref_text, x_vector_only=x_vector_only)
        voice_id = voices.new_voice_id()
        stored = self._store_audio(voice_id, audio)
        try:
            with session_scope(self._sessions, write=True) as session:
                if consent_id is not None:
                    check_consent(session, consent_id)
                voice = voices.create_voice(
                    session=session,
                    voice_id=voice_id,
                    name=name,
                    audio=stored,
                    language=language,
                    ref_text=ref_text,
                    x_vector_only=x_vector_only,
                    consent_id=consent_id,
                )
                return VoiceProfile.of(voice)
        except BaseException:
            self._delete_blobs(voices.voice_blob_prefix(voice_id), prefix=True)
            raise

    def check_new_name(self, name: str) -> None:
        """Fail fast, before any audio is decoded, on a bad or taken name (``create`` checks both too)."""
        voices.normalize_voice_name(name)
        with session_scope(self._sessions) as session:
            try:
                taken = voices.get_voice_by_name(session=session, name=name).name
            except VoiceNotFound:
                return
        raise VoiceNameTaken(taken)

    def get(self, voice_id: str) -> VoiceProfile:
        with session_scope(self._sessions) as session:
            return VoiceProfile.of(voices.get_voice(session=session, voice_id=voice_id))

    def find(self, ref: str) -> VoiceProfile | None:
        """A voice by id or (case-insensitive) name."""
        with session_scope(self._sessions) as session:
            for lookup in (self._by_id, self._by_name):
                try:
                    return VoiceProfile.of(lookup(session, ref))
                except (VoiceNotFound, InvalidInputError):
                    continue
        return None

    def list(
        self, *, limit: int = 20, cursor: str | None = None, name_filter: str | None = None
    ) -> Page[VoiceProfile]:
        with session_scope(self._sessions) as session:
            page = voices.list_voices(session=session, limit=limit, cursor=cursor, name_filter=name_filter)
            return Page(items=[VoiceProfile.of(v) for v in page.items], next_cursor=page.next_cursor)

    def iter_all(self) -> Iterable[VoiceProfile]:
        cursor: str | None = None
        while True:
            page = self.list(limit=100, cursor=cursor)
            yield from page.items
            if (cursor := page.next_cursor) is None:
                return

    def update(
        self,
        voice_id: str,
        *,
        name: Any = UNSET,
        ref_text: Any = UNSET,
        language: Any = UNSET,
        x_vector_only: Any = UNSET,
        audio: ReferenceAudio | None = None,
    ) -> VoiceProfile:
        """Change the given fields (``UNSET`` leaves one as it is); new audio starts a new version."""
        if not isinstance(name, type(UNSET)):
            voices.normalize_voice_name(name)
        changes: dict[str, Any] = {"name": name, "x_vector_only": x_vector_only}
        if not isinstance(language, type(UNSET)):
            changes["language"] = clean_language(language)
        if not isinstance(ref_text, type(UNSET)):
            changes["ref_text"] = clean_ref_text(ref_text)
        stored = self._store_audio(voice_id, audio) if audio is not None else None
        try:
            with session_scope(self._sessions, write=True) as session:
                update = voices.update_voice(session=session, voice_id=voice_id, audio=stored, **changes)
                check_mode(ref_text=update.voice.ref_text, x_vector_only=update.voice.x_vector_only)
                profile = VoiceProfile.of(update.voice)
        except BaseException:
            if stored is not None and self._unreferenced(voice_id, stored):
                self._delete_blobs(stored.original_blob_key, stored.audio_blob_key)
            raise
        self._delete_blobs(*update.stale_blob_keys)
        self._on_change(voice_id)
        return profile

    def delete(self, voice_id: str) -> None:
        """Delete the profile, then every blob under it (audio of all versions, cached clone prompts)."""
        with session_scope(self._sessions, write=True) as session:
            voices.delete_voice(session=session, voice_id=voice_id)
        self._delete_blobs(voices.voice_blob_prefix(voice_id), prefix=True)
        self._on_change(voice_id)

    def reference_audio(self, voice_id: str, *, original: bool = False) -> tuple[bytes, str]:
        """The stored audio of a voice: the normalized WAV, or the upload as received."""
        with session_scope(self._sessions) as session:
            voice = voices.get_voice(session=session, voice_id=voice_id)
            key = voice.original_blob_key if original else voice.audio_blob_key
            content_type = voice.original_content_type if original else "audio/wav"
        return self.blobs.get(key), content_type

    # -- internals -------------------------------------------------------------------------------------------
    @staticmethod
    def _by_id(session: Session, ref: str) -> Voice:
        return voices.get_voice(session=session, voice_id=ref)

    @staticmethod
    def _by_name(session: Session, ref: str) -> Voice:
        return voices.get_voice_by_name(session=session, name=ref)

    def _store_audio(self, voice_id: str, audio: ReferenceAudio) -> voices.VoiceAudio:
        original_key, normalized_key = audio_blob_keys(voice_id, audio)
        self.blobs.put(original_key, audio.original, content_type=audio.format.content_type)
        self.blobs.put(normalized_key, audio.normalized_wav(), content_type="audio/wav")
        return voices.VoiceAudio(
            original_blob_key=original_key,
            original_content_type=audio.format.content_type,
            original_sha256=audio.sha256,
            audio_blob_key=normalized_key,
            duration_s=audio.duration_s,
            sample_rate=SAMPLE_RATE,
        )

    def _unreferenced(self, voice_id: str, stored: voices.VoiceAudio) -> bool:
        """Whether the failed update's blobs are not the voice's current audio (same content, same keys)."""
        with session_scope(self._sessions) as session:
            try:
                voice = voices.get_voice(session=session, voice_id=voice_id)
            except VoiceNotFound:
                return True
            return voice.audio_blob_key != stored.audio_blob_key

    def _delete_blobs(self, *keys: str, prefix: bool = False) -> None:
        for key in keys:
            try:
                self.blobs.delete_prefix(key) if prefix else self.blobs.delete(key)
            except BlobStoreError as e:  # an orphan blob is harmless; a failed request after commit is not
                log.warning("could not delete blob(s) %s: %s", key, e)
