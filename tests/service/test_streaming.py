"""Streaming: audio arrives while it is generated (sync + async SDK), SSE events, long input in pieces."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from tests.service.audio_probe import decode
from tests.service.fake_engine import SAMPLES_PER_FRAME, FakeEngine
from tests.service.harness import serve_fakes

TEXT = "Streaming makes the first sound come early."


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    """An engine that takes 30 ms per 2-frame chunk (160 ms of audio): generation is visibly incremental."""
    with serve_fakes({"slow-CustomVoice": FakeEngine(delay_s=0.03)}) as url:
        yield url


def test_first_audio_arrives_long_before_generation_ends(slow_url: str) -> None:
    client = openai.OpenAI(base_url=f"{slow_url}/v1", api_key="x", max_retries=0)
    started = time.perf_counter()
    arrivals = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", extra_body={"stream": True}
    ) as response:
        for chunk in response.iter_bytes():
            arrivals.append((time.perf_counter() - started, len(chunk)))
    total_chunks = (len(TEXT) + 2) // 2  # 23 chunks × 30 ms ≈ 0.7 s of generation
    assert sum(n for _, n in arrivals) == (len(TEXT) + 2) * SAMPLES_PER_FRAME * 2
    assert arrivals[0][0] < arrivals[-1][0] / 3, (
        f"first audio at {arrivals[0][0]:.3f}s of {arrivals[-1][0]:.3f}s"
    )
    assert len(arrivals) >= total_chunks // 2


def test_async_client_streams_mp3(slow_url: str) -> None:
    async def run() -> bytes:
        client = openai.AsyncOpenAI(base_url=f"{slow_url}/v1", api_key="x", max_retries=0)
        async with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="coral", input=TEXT, extra_body={"stream": True}
        ) as response:
            assert response.headers["content-type"] == "audio/mpeg"
            return b"".join([chunk async for chunk in response.iter_bytes()])

    data = asyncio.run(run())
    assert decode(data).size / 24_000 == pytest.approx((len(TEXT) + 2) * 0.08, abs=0.08)


def _sse_events(base_url: str, body: dict[str, object]) -> list[dict[str, object]]:
    events = []
    with httpx.stream("POST", f"{base_url}/v1/audio/speech", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    return events


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_sse_sends_base64_deltas_then_done_with_usage(base_url: str, fmt: str) -> None:
    events = _sse_events(
        base_url,
        {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": fmt, "stream_format": "sse"},
    )
    *deltas, done = events
    assert deltas and all(e["type"] == "speech.audio.delta" for e in deltas)
    audio = b"".join(base64.b64decode(str(e["audio"])) for e in deltas)
    frames = len(TEXT) + 2
    assert decode(audio, fmt=fmt).size / 24_000 == pytest.approx(frames * 0.08, abs=0.08)
    assert done["type"] == "speech.audio.done"
    assert done["usage"] == {
        "input_tokens": len(TEXT),
        "output_tokens": frames,
        "total_tokens": len(TEXT) + frames,
    }


def test_long_input_is_split_into_sentences_synthesized_in_order(
    base_url: str, engines: dict[str, FakeEngine]
) -> None:
    sentences = [f"Sentence number {i} says something fairly ordinary." for i in range(12)]
    sentences += ["这是一个中文句子。", "还有一个！"]
    text = " ".join(sentences)
    engine = engines["fake-CustomVoice"]
    before = len(engine.records)
    response = httpx.post(
        f"{base_url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": "pcm"},
        timeout=30,
    )
    assert response.status_code == 200
    pieces = [r.request.text for r in engine.records[before:]]
    assert len(pieces) > 1 and all(len(p) <= 300 for p in pieces)
    # in order, nothing lost but the space between two CJK sentences (Chinese joins them without one)
    assert " ".join(pieces) == text.replace("。 ", "。")
    samples = np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32767
    audio_frames = sum(len(p) + 2 for p in pieces)
    pauses = (len(pieces) - 1) * int(24_000 * 0.120)
    assert samples.size == audio_frames * SAMPLES_PER_FRAME + pauses
    steepest_tone_step = 0.3 * 2 * np.pi * 600 / 24_000  # the fake's tones: amplitude 0.3, at most 600 Hz
    assert np.max(np.abs(np.diff(samples))) < steepest_tone_step + 0.002, "a click at a seam"
