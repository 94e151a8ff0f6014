"""Saved and one-off voices end to end with the real engine: the embedded composition as ``qwen3-tts serve``
builds it (SQLite, blob folder, engine host with the clone-prompt cache), tiny random-weight checkpoints."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.tiny_server import TinyServer, tiny_server
from tests.voices.fakes import recording
from workers.voice_prompts import prompt_from_bytes

pytest.importorskip("qwen_tts.tiny_checkpoint")

FRAME_BYTES = 1920 * 2
MAX_FRAMES = 6
TIMEOUT = 120


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyServer]:
    with tiny_server(
        Path(tmp_path_factory.mktemp("tiny-voices")), max_frames=MAX_FRAMES, timeout_s=TIMEOUT
    ) as server:
        yield server


def speech(url: str, **body: object) -> httpx.Response:
    request = {"model": "tts-1", "input": "Hello world.", "response_format": "pcm", "seed": 1, **body}
    return httpx.post(f"{url}/v1/audio/speech", json=request, timeout=TIMEOUT)


def test_a_saved_voice_is_cloned_by_the_base_model_with_one_prompt_computation(tiny: TinyServer) -> None:
    created = httpx.post(
        f"{tiny.url}/v1/voices",
        data={"name": "Tiny", "ref_text": "Hello world."},
        files={"file": ("ref.ogg", recording(1.5, fmt="ogg"))},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    first = speech(tiny.url, voice="clone:Tiny")  # the default model is demo-CustomVoice: switched to Base
    assert first.status_code == 200, first.text
    assert 0 < len(first.content) <= MAX_FRAMES * FRAME_BYTES
    assert tiny.prompts.stats["computed"] == 1
    second = speech(tiny.url, voice={"id": created.json()["id"]})
    assert second.content == first.content  # same seed, same prompt (from memory)
    assert tiny.prompts.stats == {"memory": 1, "blob": 0, "computed": 1}
    voice_id = created.json()["id"]
    (key,) = [key for key in tiny.blobs.list_keys(f"voices/{voice_id}/") if key.endswith(".npz")]
    stored = prompt_from_bytes(tiny.blobs.get(key))  # the real engine's prompt, read back
    assert stored.ref_text == "Hello world." and stored.ref_codes.shape[1] == 16


def test_a_one_off_clone_with_inline_reference_audio(tiny: TinyServer) -> None:
    audio = base64.b64encode(recording(1.5, fmt="mp3", frequency=250)).decode()
    response = speech(tiny.url, ref_audio=audio, ref_text="Hello world.")
    assert response.status_code == 200, response.text
    assert 0 < len(response.content) <= MAX_FRAMES * FRAME_BYTES
    x_vector = speech(tiny.url, ref_audio=audio)  # no transcript: the speaker embedding alone
    assert x_vector.status_code == 200 and len(x_vector.content) > 0
