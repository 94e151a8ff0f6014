"""Voice-profile repository.

API (keyword-only; functions flush but never commit — the caller's ``session_scope`` does)::

    voice_id = new_voice_id()                      # know the id before writing its blobs
    voice = create_voice(session=s, voice_id=voice_id, name="Ana", audio=VoiceAudio(...), ref_text="...")
    voice = get_voice(session=s, voice_id=...)     # VoiceNotFound
    voice = get_voice_by_name(session=s, name="ana")   # case-insensitive; VoiceNotFound
    page = list_voices(session=s, limit=20, cursor=None, name_filter="an")   # Page[Voice], by name
    change = update_voice(session=s, voice_id=..., ref_text="new")  # VoiceUpdate(voice, stale_blob_keys)
    voice = delete_voice(session=s, voice_id=...)  # then blobs.delete_prefix(voice_blob_prefix(voice.id))
    record_clone_prompt(session=s, voice_id=..., voice_version=..., model_key=..., blob_key=...)
    prompt = get_clone_prompt(session=s, voice_id=..., voice_version=..., model_key=...)  # or None

Names are unique case-insensitively (NFKC + casefold): ``VoiceNameTaken`` (409) on a clash,
``InvalidVoiceName`` for empty, over-long or control-character names. ``version`` goes up when the audio, the
transcript or the x-vector-only mode changes; cached clone prompts of older versions are then forgotten and
their blob keys (and those of replaced audio) come back in ``VoiceUpdate.stale_blob_keys`` for the caller to
delete after commit. Blob keys: suggested layout ``voice_blob_key(id, version, "reference.wav")`` →
``voices/<id>/v<version>/...``.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice_store.errors import InvalidVoiceName, VoiceNameTaken, VoiceNotFound, VoiceVersionStale
from voice_store.models.base import new_id, utcnow
from voice_store.models.voices import VOICE_NAME_MAX_LENGTH, Voice, VoiceClonePrompt
from voice_store.pagination import Page, check_limit, decode_cursor, encode_cursor


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET  # "leave this field as it is" in update_voice


@dataclass(frozen=True, slots=True)
class VoiceAudio:
    """The stored reference audio of one voice version (both blobs already written)."""

    original_blob_key: str
    original_content_type: str
    original_sha256: str
    audio_blob_key: str  # the normalized mono 24 kHz copy
    duration_s: float
    sample_rate: int


@dataclass(frozen=True, slots=True)
class VoiceUpdate:
    voice: Voice
    stale_blob_keys: list[str]  # delete these from the blob store after the commit


def new_voice_id() -> str:
    return new_id("voice")


def voice_blob_prefix(voice_id: str) -> str:
    """Every blob of a voice lives under this prefix (``delete_prefix`` it when the voice is deleted)."""
    return f"voices/{voice_id}/"


def voice_blob_key(voice_id: str, version: int, filename: str) -> str:
    return f"{voice_blob_prefix(voice_id)}v{version}/{filename}"


def normalize_voice_name(name: str) -> tuple[str, str]:
    """``(display name, lookup key)``: whitespace stripped; the key is NFKC-normalized and casefolded."""
    display = name.strip()
    if not display:
        raise InvalidVoiceName("voice name must not be empty")
    if len(display) > VOICE_NAME_MAX_LENGTH:
        raise InvalidVoiceName(f"voice name must be at most {VOICE_NAME_MAX_LENGTH} characters")
    if any(unicodedata.category(char).startswith("C") for char in display):
        raise InvalidVoiceName("voice name must not contain control or invisible format characters")
    key = unicodedata.normalize("NFKC", display).casefold()
    if len(key) > VOICE_NAME_MAX_LENGTH:
        raise InvalidVoiceName(f"voice name must be at most {VOICE_NAME_MAX_LENGTH} characters")
    return display, key


def create_voice(
    *,
    session: Session,
    name: str,
    audio: VoiceAudio,
    language: str = "auto",
    ref_text: str | None = None,
    x_vector_only: bool = False,
    voice_id: str | None = None,
    consent_id: str | None = None,
) -> Voice:
    normalize_voice_name(name)  # invalid input fails before anything else happens
    now = utcnow()
    voice = Voice(
        id=voice_id or new_voice_id(),
        language=language,
        ref_text=ref_text,
        x_vector_only=x_vector_only,
        version=1,
        consent_id=consent_id,
        created_at=now,
        updated_at=now,
    )
    _set_audio(voice, audio)
    _save_with_unique_name(session, voice, name=name, add=True)
    return voice


def get_voice(*, session: Session, voice_id: str, for_update: bool = False) -> Voice:
    statement = select(Voice).where(Voice.id == voice_id)
    if for_update:  # lock the row and refresh what the session may already hold
        statement = statement.with_for_update().execution_options(populate_existing=True)
    voice = session.scalars(statement).one_or_none()
    if voice is None:
        raise VoiceNotFound(voice_id)
    return voice


def get_voice_by_name(*, session: Session, name: str) -> Voice:
    try:
        _, key = normalize_voice_name(name)
    except InvalidVoiceName as e:
        raise VoiceNotFound(name) from e
    voice = session.scalars(select(Voice).where(Voice.name_key == key)).one_or_none()
    if voice is None:
        raise VoiceNotFound(name)
    return voice


def find_voices_by_audio(*, session: Session, original_sha256: str) -> list[Voice]:
    """Voices whose uploaded audio has this SHA-256 (lets an import skip what it already holds)."""
    return list(
        session.scalars(select(Voice).where(Voice.original_sha256 == original_sha256).order_by(Voice.id))
    )


def list_voices(
    *, session: Session, limit: int = 20, cursor: str | None = None, name_filter: str | None = None
) -> Page[Voice]:
    """Voices ordered by name (case-insensitive); ``name_filter`` is a case-insensitive substring."""
    statement = select(Voice).order_by(Voice.name_key).limit(check_limit(limit) + 1)
    if name_filter and name_filter.strip():
        needle = unicodedata.normalize("NFKC", name_filter.strip()).casefold()
        statement = statement.where(Voice.name_key.contains(needle, autoescape=True))
    if cursor is not None:
        (after,) = decode_cursor(cursor, size=1)
        statement = statement.where(Voice.name_key > after)
    voices = list(session.scalars(statement))
    if len(voices) <= limit:
        return Page(items=voices, next_cursor=None)
    voices = voices[:limit]
    return Page(items=voices, next_cursor=encode_cursor([voices[-1].name_key]))


def update_voice(
    *,
    session: Session,
    voice_id: str,
    name: str | _Unset = UNSET,
    language: str | _Unset = UNSET,
    ref_text: str | _Unset | None = UNSET,
    x_vector_only: bool | _Unset = UNSET,
    audio: VoiceAudio | None = None,
) -> VoiceUpdate:
    """Change the given fields; new audio or a changed transcript / mode starts a new version."""
    if not isinstance(name, _Unset):
        normalize_voice_name(name)  # fail on bad input before touching anything
    voice = get_voice(session=session, voice_id=voice_id, for_update=True)
    stale: list[str] = []
    new_version = False
    if audio is not None:
        stale += [key for key in (voice.original_blob_key, voice.audio_blob_key) if key not in _keys(audio)]
        _set_audio(voice, audio)
        new_version = True
    if not isinstance(ref_text, _Unset) and ref_text != voice.ref_text:
        voice.ref_text = ref_text
        new_version = True
    if not isinstance(x_vector_only, _Unset) and x_vector_only != voice.x_vector_only:
        voice.x_vector_only = x_vector_only
        new_version = True
    if not isinstance(language, _Unset):
        voice.language = language
    if new_version:
        voice.version += 1
        stale += [prompt.blob_key for prompt in voice.clone_prompts]
        voice.clone_prompts.clear()
    if isinstance(name, _Unset):
        session.flush()
    else:
        _save_with_unique_name(session, voice, name=name, add=False)
    return VoiceUpdate(voice=voice, stale_blob_keys=stale)


def delete_voice(*, session: Session, voice_id: str) -> Voice:
    """Delete the row (its clone-prompt rows go with it); the caller then deletes ``voice_blob_prefix``."""
    voice = get_voice(session=session, voice_id=voice_id, for_update=True)
    session.delete(voice)
    session.flush()
    return voice


def record_clone_prompt(
    *, session: Session, voice_id: str, voice_version: int, model_key: str, blob_key: str
) -> VoiceClonePrompt:
    """Remember where a computed clone prompt lives. ``VoiceVersionStale`` if the voice changed meanwhile."""
    voice = get_voice(session=session, voice_id=voice_id, for_update=True)
    if voice.version != voice_version:
        raise VoiceVersionStale(voice_id, voice_version, voice.version)
    prompt = session.get(VoiceClonePrompt, (voice_id, voice_version, model_key))
    if prompt is None:
        prompt = VoiceClonePrompt(
            voice_id=voice_id, voice_version=voice_version, model_key=model_key, blob_key=blob_key
        )
        voice.clone_prompts.append(prompt)
    else:
        prompt.blob_key = blob_key
    session.flush()
    return prompt


def get_clone_prompt(
    *, session: Session, voice_id: str, voice_version: int, model_key: str
) -> VoiceClonePrompt | None:
    return session.get(VoiceClonePrompt, (voice_id, voice_version, model_key))


def _keys(audio: VoiceAudio) -> tuple[str, str]:
    return audio.original_blob_key, audio.audio_blob_key


def _set_audio(voice: Voice, audio: VoiceAudio) -> None:
    voice.original_blob_key = audio.original_blob_key
    voice.original_content_type = audio.original_content_type
    voice.original_sha256 = audio.original_sha256
    voice.audio_blob_key = audio.audio_blob_key
    voice.duration_s = audio.duration_s
    voice.sample_rate = audio.sample_rate


def _save_with_unique_name(session: Session, voice: Voice, *, name: str, add: bool) -> None:
    """Set the name and flush inside a SAVEPOINT, so a clash leaves the caller's transaction usable."""
    display, key = normalize_voice_name(name)
    session.flush()  # everything else first, outside the savepoint
    try:
        with session.begin_nested():
            voice.name, voice.name_key = display, key
            if add:
                session.add(voice)
            session.flush()
    except IntegrityError as e:
        clash = session.scalars(select(Voice.id).where(Voice.name_key == key, Voice.id != voice.id)).first()
        if clash is not None:
            raise VoiceNameTaken(display) from e
        raise
