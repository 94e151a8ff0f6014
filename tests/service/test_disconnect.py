"""A client that goes away stops its generation within 2 chunks (observed at the engine boundary)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.service.fake_engine import FakeEngine, StreamRecord
from tests.service.harness import serve_fakes

LONG = "This input would take many seconds to speak in full. " * 5  # 270 chars → 136 chunks ≈ 11 s


@pytest.fixture(scope="module")
def slow() -> Iterator[tuple[str, FakeEngine]]:
    engine = FakeEngine(
        delay_s=0.08
    )  # a chunk per 80 ms: "within 2 chunks" leaves the server 160 ms to notice
    with serve_fakes({"slow-CustomVoice": engine}) as url:
        yield url, engine


def _settled(record: StreamRecord, timeout_s: float = 3.0) -> int:
    """The record's chunk count once it stops changing (generation ended or was closed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (record.closed_early or record.finished):
        time.sleep(0.01)
    return record.chunks


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_closing_a_stream_stops_generation_within_two_chunks(slow: tuple[str, FakeEngine], fmt: str) -> None:
    url, engine = slow
    body = {"model": "tts-1", "voice": "alloy", "input": LONG, "response_format": fmt, "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/v1/audio/speech", json=body) as response,
    ):
        chunks = response.iter_bytes()
        next(chunks)
        record = engine.records[-1]
        response.close()
        at_close = record.chunks
    final = _settled(record)
    assert record.closed_early, "the engine generator was not closed"
    assert final - at_close <= 2, f"{final - at_close} chunks generated after the client left"
    assert final < 136


def test_breaking_out_of_an_sdk_stream_stops_generation(slow: tuple[str, FakeEngine]) -> None:
    url, engine = slow
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=LONG, response_format="pcm", extra_body={"stream_format": "audio"}
    ) as response:
        for _ in response.iter_bytes():
            break
        record = engine.records[-1]
        at_close = record.chunks
    assert _settled(record) - at_close <= 2 and record.closed_early


def test_abandoned_whole_body_request_stops_generation(slow: tuple[str, FakeEngine]) -> None:
    url, engine = slow
    body = {"model": "tts-1", "voice": "alloy", "input": LONG, "response_format": "wav"}
    before = len(engine.records)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/v1/audio/speech", json=body, timeout=httpx.Timeout(10, read=0.3))
    record = engine.records[before]
    at_close = record.chunks
    assert _settled(record) - at_close <= 2 and record.closed_early
