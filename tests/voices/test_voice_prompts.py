"""Clone prompts of saved voices: routed to a Base model, computed once per voice version and model, kept in
memory and in the blob store (a fresh process reuses them), recomputed when the voice changes."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
import numpy as np
import pytest

from common.audio.upload import ingest_audio
from common.errors import NotFound
from common.voice_references import store_reference
from server.composition import build_voice_library
from tests.voices.conftest import VoiceServer, fake_settings, unique
from tests.voices.fakes import CloningFakeEngine, recording, silence_wav
from voice_store.blobs import BlobStore
from voice_store.voices import voice_blob_prefix
from workers.voice_prompts import ClonePromptCache, ModelKeys, prompt_from_bytes, prompt_to_bytes

TIMEOUT = 30


def save(server: VoiceServer, **fields: str) -> dict[str, object]:
    data = {"name": unique("Clone"), "ref_text": "The reference words.", **fields}
    response = httpx.post(
        f"{server.url}/v1/voices", data=data, files={"file": ("a.wav", recording(2.0))}, timeout=TIMEOUT
    )
    assert response.status_code == 201, response.text
    return response.json()


def speak(server: VoiceServer, voice: object, model: str = "tts-1") -> httpx.Response:
    body = {"model": model, "voice": voice, "input": "Hello.", "response_format": "pcm"}
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=TIMEOUT)


def prompt_keys(server: VoiceServer, voice_id: str) -> list[str]:
    keys = server.stores.blobs.list_keys(voice_blob_prefix(voice_id))
    return [key for key in keys if key.endswith(".npz")]


def test_a_saved_voice_routes_to_the_base_model_with_its_prompt(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    engine = voice_server.base_engine
    calls, records = len(engine.clone_calls), len(engine.records)
    response = speak(voice_server, f"clone:{voice['name']}")  # the default model is CustomVoice
    assert response.status_code == 200 and len(response.content) > 0
    assert len(engine.records) == records + 1  # served by the Base engine
    prompt = engine.records[-1].request.voice_clone
    assert prompt.ref_text == "The reference words." and prompt.ref_codes.shape[1] == 16
    assert engine.clone_calls[calls:] == [
        {"samples": 48_000, "rate": 24_000, "text": "The reference words.", "x": False}
    ]


def test_the_prompt_is_computed_once_then_served_from_memory(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    engine, stats = voice_server.base_engine, voice_server.prompts.stats
    calls = len(engine.clone_calls)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    hits = stats["memory"]
    for ref in ({"id": voice["id"]}, {"id": voice["name"]}, f"clone:{str(voice['name']).upper()}"):
        assert speak(voice_server, ref).status_code == 200
    assert len(engine.clone_calls) == calls + 1
    assert stats["memory"] == hits + 3
    assert len(prompt_keys(voice_server, str(voice["id"]))) == 1


def test_a_fresh_process_reads_the_stored_prompt_instead_of_recomputing(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    engine = CloningFakeEngine("base")
    keys = ModelKeys(fake_settings().models)
    loaded = keys.track(lambda name: engine)("fake-Base")
    fresh = ClonePromptCache(
        sessions=voice_server.stores.sessions, blobs=voice_server.stores.blobs, model_key=keys
    )
    prompt = fresh(loaded, str(voice["id"]))
    assert engine.clone_calls == [] and fresh.stats == {"memory": 0, "blob": 1, "computed": 0}
    assert prompt.ref_text == "The reference words."
    other = ModelKeys({"fake-Base": "/another/checkpoint"})  # another model: its own prompt
    other_engine = other.track(lambda name: engine)("fake-Base")
    ClonePromptCache(sessions=voice_server.stores.sessions, blobs=voice_server.stores.blobs, model_key=other)(
        other_engine, str(voice["id"])
    )
    assert len(engine.clone_calls) == 1 and len(prompt_keys(voice_server, str(voice["id"]))) == 2


def test_a_changed_voice_gets_a_new_prompt_and_the_old_one_is_deleted(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    engine = voice_server.base_engine
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    old = prompt_keys(voice_server, str(voice["id"]))
    patched = httpx.patch(
        f"{voice_server.url}/v1/voices/{voice['id']}", json={"ref_text": "New words."}, timeout=TIMEOUT
    )
    assert patched.json()["version"] == 2
    assert prompt_keys(voice_server, str(voice["id"])) == []  # stale prompt blobs deleted
    calls = len(engine.clone_calls)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    assert len(engine.clone_calls) == calls + 1 and engine.clone_calls[-1]["text"] == "New words."
    new = prompt_keys(voice_server, str(voice["id"]))
    assert len(new) == 1 and new != old and "/v2/" in new[0]


def test_a_change_made_by_another_process_is_seen_through_the_version(voice_server: VoiceServer) -> None:
    """No in-process notification: the version read per request invalidates the memory entry."""
    voice = save(voice_server)
    engine = voice_server.base_engine
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    other_process = build_voice_library(
        fake_settings(), voice_server.stores.sessions, voice_server.stores.blobs
    )
    other_process.update(str(voice["id"]), ref_text="Changed elsewhere.")
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    assert engine.clone_calls[-1]["text"] == "Changed elsewhere."


def test_a_transcript_less_voice_clones_from_the_embedding_only(voice_server: VoiceServer) -> None:
    voice = save(voice_server, ref_text="")
    assert voice["x_vector_only"] is True
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    prompt = voice_server.base_engine.records[-1].request.voice_clone
    assert prompt.x_vector_only and prompt.ref_codes is None and prompt.ref_text is None


def test_an_unusable_stored_prompt_is_recomputed(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    (key,) = prompt_keys(voice_server, str(voice["id"]))
    voice_server.stores.blobs.put(key, b"not an npz")
    voice_server.prompts.forget(str(voice["id"]))
    calls = len(voice_server.base_engine.clone_calls)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    assert len(voice_server.base_engine.clone_calls) == calls + 1
    prompt_from_bytes(voice_server.stores.blobs.get(key))  # rewritten with a valid prompt


def test_a_deleted_voice_is_not_found_by_the_cache(voice_server: VoiceServer) -> None:
    voice = save(voice_server)
    assert speak(voice_server, f"clone:{voice['name']}").status_code == 200
    voice_server.library.delete(str(voice["id"]))
    with pytest.raises(NotFound):
        voice_server.prompts(voice_server.base_engine, str(voice["id"]))


def test_prompts_round_trip_through_bytes() -> None:
    engine = CloningFakeEngine("base")
    wave = np.sin(np.arange(30_000, dtype=np.float32) / 10)
    for text, x_only in (("words", False), (None, True)):
        prompt = engine.create_voice_clone_prompt(wave, 24_000, text, x_only)
        back = prompt_from_bytes(prompt_to_bytes(prompt))
        assert back.x_vector_only == x_only and back.ref_text == text
        np.testing.assert_array_equal(back.speaker_embedding, prompt.speaker_embedding)
        if not x_only:
            np.testing.assert_array_equal(back.ref_codes, prompt.ref_codes)
    with pytest.raises(ValueError):
        prompt_from_bytes(b"junk")


def inline_speech(server: VoiceServer, audio: bytes, **extra: object) -> httpx.Response:
    body = {"model": "tts-1", "input": "Hello.", "response_format": "pcm", **extra}
    body["ref_audio"] = "data:audio/wav;base64," + base64.b64encode(audio).decode()
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=TIMEOUT)


def test_a_one_off_clone_with_inline_audio_reuses_its_prompt(voice_server: VoiceServer) -> None:
    engine, blobs = voice_server.base_engine, voice_server.stores.blobs
    audio, text = recording(2.0, frequency=secrets.randbelow(500) + 200), "Inline reference words."
    calls, references = len(engine.clone_calls), set(blobs.list_keys("references/"))
    listed = httpx.get(f"{voice_server.url}/v1/voices", params={"limit": 100}, timeout=TIMEOUT).json()
    for _ in range(2):
        response = inline_speech(voice_server, audio, ref_text=text)
        assert response.status_code == 200, response.text
        assert engine.records[-1].request.voice_clone.ref_text == text
    assert len(engine.clone_calls) == calls + 1  # the second request reused the prompt
    added = sorted(key.rsplit("/", 1)[1] for key in set(blobs.list_keys("references/")) - references)
    assert len(added) == 3 and added[0] == "meta.json" and added[2] == "reference.wav"
    assert added[1].startswith("prompt-fake-Base-") and added[1].endswith(".npz")
    assert httpx.get(f"{voice_server.url}/v1/voices", params={"limit": 100}, timeout=TIMEOUT).json() == listed


class CountingBlobs:
    """The store under test, counting reads."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner, self.reads = inner, 0

    def get(self, key: str) -> bytes:
        self.reads += 1
        return self.inner.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_one_off_prompt_in_memory_is_served_without_reading_the_store(voice_server: VoiceServer) -> None:
    blobs = CountingBlobs(voice_server.stores.blobs)
    audio = ingest_audio(recording(1.5, frequency=secrets.randbelow(500) + 200))
    voice_id = store_reference(blobs, audio, ref_text="One-off words.")  # type: ignore[arg-type]
    cache = ClonePromptCache(
        sessions=voice_server.stores.sessions,
        blobs=blobs,  # type: ignore[arg-type]
        model_key=lambda engine: "fake-Base",
    )
    engine = CloningFakeEngine("base")
    first = cache(engine, voice_id)
    reads = blobs.reads
    assert cache(engine, voice_id) is first
    assert blobs.reads == reads and cache.stats == {"memory": 1, "blob": 0, "computed": 1}


@pytest.mark.parametrize(
    ("extra", "audio", "code"),
    [
        ({"voice": "alloy", "ref_text": "t"}, recording(1.5), "invalid_request"),  # voice and ref_audio
        ({"ref_text": "t"}, silence_wav(), "audio_silent"),
        ({"x_vector_only": False}, recording(1.5), "invalid_request"),  # no transcript for in-context
    ],
    ids=["both-voice-and-ref", "silent", "no-transcript"],
)
def test_one_off_clone_errors(
    voice_server: VoiceServer, extra: dict[str, object], audio: bytes, code: str
) -> None:
    response = inline_speech(voice_server, audio, **extra)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text


def test_one_off_clone_with_bad_base64_or_no_voice_at_all(voice_server: VoiceServer) -> None:
    body = {"model": "tts-1", "input": "Hi", "ref_audio": "%%%", "ref_text": "t"}
    bad = httpx.post(f"{voice_server.url}/v1/audio/speech", json=body, timeout=TIMEOUT)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "ref_audio"
    neither = httpx.post(
        f"{voice_server.url}/v1/audio/speech", json={"model": "tts-1", "input": "Hi"}, timeout=TIMEOUT
    )
    assert neither.status_code == 400
