"""Voice-profile repository contract, on SQLite and on Postgres."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session

from voice_store.errors import (
    InvalidCursor,
    InvalidInputError,
    InvalidVoiceName,
    VoiceNameTaken,
    VoiceNotFound,
    VoiceVersionStale,
)
from voice_store.models import Voice, VoiceClonePrompt
from voice_store.voices import (
    VoiceAudio,
    create_voice,
    delete_voice,
    find_voices_by_audio,
    get_clone_prompt,
    get_voice,
    get_voice_by_name,
    list_voices,
    new_voice_id,
    record_clone_prompt,
    update_voice,
    voice_blob_key,
    voice_blob_prefix,
)


def _audio(voice_id: str, version: int = 1, content: bytes = b"wav") -> VoiceAudio:
    return VoiceAudio(
        original_blob_key=voice_blob_key(voice_id, version, "original.mp3"),
        original_content_type="audio/mpeg",
        original_sha256=hashlib.sha256(content).hexdigest(),
        audio_blob_key=voice_blob_key(voice_id, version, "reference.wav"),
        duration_s=4.5,
        sample_rate=24_000,
    )


def _create(session: Session, name: str, **kwargs: object) -> Voice:
    voice_id = new_voice_id()
    return create_voice(session=session, voice_id=voice_id, name=name, audio=_audio(voice_id), **kwargs)  # type: ignore[arg-type]


def test_create_and_get(session: Session) -> None:
    voice = _create(session, "  Ana Maria ", language="portuguese", ref_text="Olá, tudo bem?")
    session.expire_all()
    loaded = get_voice(session=session, voice_id=voice.id)
    assert loaded.name == "Ana Maria"
    assert (loaded.language, loaded.ref_text, loaded.x_vector_only, loaded.version) == (
        "portuguese",
        "Olá, tudo bem?",
        False,
        1,
    )
    assert loaded.audio_blob_key == f"voices/{voice.id}/v1/reference.wav"
    assert (loaded.duration_s, loaded.sample_rate) == (4.5, 24_000)
    assert loaded.created_at == loaded.updated_at
    assert loaded.id.startswith("voice_") and len(loaded.id) == len("voice_") + 26


def test_get_missing_voice(session: Session) -> None:
    with pytest.raises(VoiceNotFound):
        get_voice(session=session, voice_id="voice_missing")
    with pytest.raises(VoiceNotFound):
        get_voice_by_name(session=session, name="nobody")
    with pytest.raises(VoiceNotFound):
        get_voice_by_name(session=session, name="   ")


@pytest.mark.parametrize(
    ("first", "second"),
    [("Narrator", "narrator"), ("ÅSA", "åsa"), ("Straße", "STRASSE"), ("ﬁona", "Fiona"), ("Bob", " BOB ")],
)
def test_names_are_unique_case_insensitively(session: Session, first: str, second: str) -> None:
    voice = _create(session, first)
    assert get_voice_by_name(session=session, name=second).id == voice.id
    with pytest.raises(VoiceNameTaken):
        _create(session, second)
    # the clash left the transaction usable
    assert get_voice(session=session, voice_id=voice.id).name == first.strip()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there", "zero\u200bwidth", "new\nline"])
def test_invalid_names_are_rejected(session: Session, name: str) -> None:
    with pytest.raises(InvalidVoiceName):
        _create(session, name)


def test_rename_to_taken_name_conflicts_and_rename_changes_no_version(session: Session) -> None:
    alice = _create(session, "Alice")
    _create(session, "Bob")
    with pytest.raises(VoiceNameTaken):
        update_voice(session=session, voice_id=alice.id, name="BOB")
    renamed = update_voice(session=session, voice_id=alice.id, name="alice (studio)", language="english")
    assert renamed.voice.name == "alice (studio)"
    assert renamed.voice.language == "english"
    assert renamed.voice.version == 1
    assert renamed.stale_blob_keys == []
    assert renamed.voice.updated_at > renamed.voice.created_at
    assert get_voice_by_name(session=session, name="ALICE (STUDIO)").id == alice.id


def test_transcript_or_mode_change_bumps_version_and_forgets_prompts(session: Session) -> None:
    voice = _create(session, "Versioned", ref_text="one")
    record_clone_prompt(
        session=session, voice_id=voice.id, voice_version=1, model_key="0.6B-Base", blob_key="p/1"
    )
    unchanged = update_voice(session=session, voice_id=voice.id, ref_text="one")
    assert unchanged.voice.version == 1 and unchanged.stale_blob_keys == []

    change = update_voice(session=session, voice_id=voice.id, ref_text="two")
    assert change.voice.version == 2
    assert change.stale_blob_keys == ["p/1"]
    assert (
        get_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="0.6B-Base") is None
    )

    assert update_voice(session=session, voice_id=voice.id, x_vector_only=True).voice.version == 3
    assert update_voice(session=session, voice_id=voice.id, ref_text=None).voice.ref_text is None


def test_new_audio_bumps_version_and_reports_replaced_blobs(session: Session) -> None:
    voice = _create(session, "Replaced")
    old_keys = [voice.original_blob_key, voice.audio_blob_key]
    change = update_voice(
        session=session, voice_id=voice.id, audio=_audio(voice.id, version=2, content=b"new")
    )
    assert change.voice.version == 2
    assert sorted(change.stale_blob_keys) == sorted(old_keys)
    assert change.voice.audio_blob_key == voice_blob_key(voice.id, 2, "reference.wav")
    assert change.voice.original_sha256 == hashlib.sha256(b"new").hexdigest()


def test_update_missing_voice(session: Session) -> None:
    with pytest.raises(VoiceNotFound):
        update_voice(session=session, voice_id="voice_missing", ref_text="x")


def test_delete_removes_voice_and_its_prompts(session: Session) -> None:
    voice = _create(session, "Doomed")
    record_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="m", blob_key="k")
    deleted = delete_voice(session=session, voice_id=voice.id)
    assert voice_blob_prefix(deleted.id) == f"voices/{voice.id}/"
    session.expire_all()
    with pytest.raises(VoiceNotFound):
        get_voice(session=session, voice_id=voice.id)
    assert session.get(VoiceClonePrompt, (voice.id, 1, "m")) is None
    with pytest.raises(VoiceNotFound):
        delete_voice(session=session, voice_id=voice.id)
    _create(session, "doomed")  # the name is free again


def test_clone_prompt_is_recorded_per_version_and_model(session: Session) -> None:
    voice = _create(session, "Prompted")
    record_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="0.6B", blob_key="a")
    record_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="1.7B", blob_key="b")
    record_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="0.6B", blob_key="c")
    found = get_clone_prompt(session=session, voice_id=voice.id, voice_version=1, model_key="0.6B")
    assert found is not None and found.blob_key == "c"
    assert get_clone_prompt(session=session, voice_id=voice.id, voice_version=2, model_key="0.6B") is None

    update_voice(session=session, voice_id=voice.id, ref_text="changed")
    with pytest.raises(VoiceVersionStale):  # a worker that computed the old version must not record it
        record_clone_prompt(
            session=session, voice_id=voice.id, voice_version=1, model_key="0.6B", blob_key="d"
        )


def test_list_voices_paginates_by_name_with_filter(session: Session) -> None:
    tag = new_voice_id()[-8:]  # the database is shared by the session: scope names to this test
    names = [f"{tag} {letter}" for letter in "EbDaC"] + [f"other {tag}"]
    for name in names:
        _create(session, name)

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = list_voices(session=session, limit=2, cursor=cursor, name_filter=tag.upper())
        seen += [voice.name for voice in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(names, key=str.casefold)  # code-point order of the casefolded names
    assert seen[seen.index(f"{tag} a") :][:5] == [f"{tag} a", f"{tag} b", f"{tag} C", f"{tag} D", f"{tag} E"]

    assert list_voices(session=session, limit=100, name_filter=f"{tag} d").items[0].name == f"{tag} D"
    assert list_voices(session=session, limit=5, name_filter=f"{tag}%").items == []  # wildcards are literal


def test_list_voices_rejects_bad_limits_and_cursors(session: Session) -> None:
    for limit in (0, 101):
        with pytest.raises(InvalidInputError):
            list_voices(session=session, limit=limit)
    for cursor in ("not-base64!", "bnVsbA", "WzEsMl0"):  # garbage, JSON null, JSON [1,2]
        with pytest.raises(InvalidCursor):
            list_voices(session=session, cursor=cursor)


def test_find_voices_by_audio(session: Session) -> None:
    voice_id = new_voice_id()
    audio = _audio(voice_id, content=voice_id.encode())
    create_voice(session=session, voice_id=voice_id, name=f"hash {voice_id}", audio=audio)
    assert [v.id for v in find_voices_by_audio(session=session, original_sha256=audio.original_sha256)] == [
        voice_id
    ]
