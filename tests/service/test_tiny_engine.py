"""End to end with the real engine: tiny random-weight checkpoints in the real layout, the embedded
composition (SQLite via Alembic, engine host thread), uvicorn on loopback, the real OpenAI SDK."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from common.settings import Settings
from server.composition import build_embedded_services, build_host, demo_settings, engine_loader
from tests.service.audio_probe import decode, probe
from tests.service.harness import serve
from web.app import create_app

pytest.importorskip("qwen_tts.tiny_checkpoint", reason="the tiny checkpoint writer has not landed yet")

FRAME = 1920
MAX_FRAMES = 12


@pytest.fixture(scope="module")
def tiny_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = Path(tmp_path_factory.mktemp("tiny"))
    settings = demo_settings(Settings(data_dir=data_dir), data_dir / "models")
    settings = settings.model_copy(update={"max_frames_per_piece": MAX_FRAMES})
    host = build_host(settings, engine_loader(settings))
    with serve(create_app(build_embedded_services(settings, host, demo=True)), timeout_s=120) as url:
        assert host.wait_ready(120)
        yield url


@pytest.fixture(scope="module")
def client(tiny_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tiny_url}/v1", api_key="x", max_retries=0, timeout=120)


def test_whole_wav_decodes_at_24khz_in_whole_frames(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello world.", response_format="wav"
    )
    info = probe(response.content)
    assert (info["codec_name"], info["sample_rate"], info["channels"]) == ("pcm_s16le", 24_000, 1)
    samples = decode(response.content)
    assert 0 < samples.size <= MAX_FRAMES * FRAME and samples.size % FRAME == 0


def test_streamed_pcm_equals_the_whole_response_for_a_seed(client: openai.OpenAI) -> None:
    def speech(seed: int, **extra: object) -> bytes:
        with client.audio.speech.with_streaming_response.create(
            model="tts-1",
            voice="alloy",
            input="Hello world.",
            response_format="pcm",
            extra_body={"seed": seed, **extra},
        ) as response:
            return b"".join(response.iter_bytes())

    whole = speech(1234)
    assert len(whole) > 0
    assert speech(1234, stream=True) == whole  # streamed (chunk by chunk) == whole body, and reproducible
    assert speech(99) != whole


def test_async_sdk_streams_mp3(tiny_url: str) -> None:
    async def run() -> bytes:
        client = openai.AsyncOpenAI(base_url=f"{tiny_url}/v1", api_key="x", max_retries=0, timeout=120)
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1-en", voice="echo", input="Hello world.", extra_body={"stream": True}
        ) as response:
            return b"".join([chunk async for chunk in response.iter_bytes()])

    data = asyncio.run(run())
    assert probe(data)["codec_name"] == "mp3" and decode(data).size > 0


def test_sse_done_counts_the_frames(tiny_url: str) -> None:
    body = {
        "model": "tts-1",
        "voice": "nova",
        "input": "Hello world.",
        "response_format": "pcm",
        "stream_format": "sse",
    }
    with httpx.stream("POST", f"{tiny_url}/v1/audio/speech", json=body, timeout=120) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["output_tokens"] == len(audio) // 2 // FRAME


def test_voice_design_model_by_name_with_instructions(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="demo-VoiceDesign",
        voice="alloy",
        input="Hello world.",
        instructions="a warm calm voice",
        response_format="pcm",
    )
    assert len(response.content) > 0 and "x-instructions-ignored" not in response.response.headers


def test_listings_show_the_tiny_models_speakers(tiny_url: str) -> None:
    voices = httpx.get(f"{tiny_url}/v1/audio/voices", timeout=30).json()["voices"]
    models = httpx.get(f"{tiny_url}/v1/audio/models", timeout=30).json()["models"]
    assert {"demo-CustomVoice", "demo-VoiceDesign", "demo-Base"} <= {m["id"] for m in models}
    for voice in voices[:3]:
        response = httpx.post(
            f"{tiny_url}/v1/audio/speech",
            json={"model": "tts-1", "voice": voice["id"], "input": "Hi.", "response_format": "pcm"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        assert np.frombuffer(response.content, dtype="<i2").size % FRAME == 0


def test_concurrent_requests_interleave_on_one_engine_without_mixing_audio(tiny_url: str) -> None:
    """The host steps the streams in turn on the same engine (one batch); each must equal its request run
    alone: the same frames, samples within float rounding (1 LSB: chunks due together are decoded in one
    codec call, whose batched sums round differently)."""

    def body(seed: int, voice: str) -> dict[str, object]:
        return {
            "model": "tts-1",
            "voice": voice,
            "input": "Hello world, again.",
            "response_format": "pcm",
            "seed": seed,
            "stream": True,
        }

    requests = [body(11, "alloy"), body(22, "echo"), body(33, "nova")]
    alone = [httpx.post(f"{tiny_url}/v1/audio/speech", json=b, timeout=120).content for b in requests]

    async def together() -> list[bytes]:
        async with httpx.AsyncClient(timeout=120) as client:
            responses = await asyncio.gather(
                *(client.post(f"{tiny_url}/v1/audio/speech", json=b) for b in requests)
            )
        return [r.content for r in responses]

    for audio, expected in zip(asyncio.run(together()), alone, strict=True):
        samples, want = np.frombuffer(audio, dtype="<i2"), np.frombuffer(expected, dtype="<i2")
        assert samples.shape == want.shape
        assert np.abs(samples.astype(np.int32) - want).max() <= 1
    assert len(set(alone)) == 3
