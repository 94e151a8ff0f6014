"""Word timestamps while streaming, on the tiny real engine and the tiny forced aligner (``--demo``'s).

In the embedded mode, ``/v1/audio/speech`` SSE sends ``speech.audio.words`` after each piece's audio (seconds
from the start of the audio, divided by ``speed``), and the realtime WebSocket's ``audio.done`` carries
vLLM-Omni's ``timestamp_info.word_alignment`` (seconds from the sentence's start). The aligner runs in the
engine host, where the audio is; its words travel on the chunk stream after their piece."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.realtime.client import open_session, send, speak
from tests.service.tiny_server import TinyServer, tiny_server

TEXT = "Hello world. How are you today?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyServer]:
    with tiny_server(tmp_path_factory.mktemp("words"), max_frames=8, timeout_s=180) as server:
        yield server


def sse_events(url: str, **extra: Any) -> list[dict[str, Any]]:
    body = {"input": TEXT, "voice": "alloy", "response_format": "pcm", "stream_format": "sse", "seed": 3}
    body |= {"timestamps": "word"} | extra
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as reply:
        assert reply.status_code == 200, reply.read()
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    return [json.loads(line.removeprefix("data: ")) for line in lines]


def check_words(words: list[dict[str, Any]], end_s: float) -> None:
    for word in words:
        assert 0.0 <= word["start"] <= word["end"] <= end_s + 1e-3, (word, end_s)
    for first, second in itertools.pairwise(words):
        assert first["end"] <= second["start"] + 1e-3


def test_sse_sends_word_events_after_the_audio(server: TinyServer) -> None:
    events = sse_events(server.url)
    types = [e["type"] for e in events]
    assert types[0] == "speech.audio.delta" and types[-1] == "speech.audio.done"
    assert "speech.audio.words" in types and types.index("speech.audio.words") > 0
    audio_s = (
        sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta") / 48_000
    )
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert [w["text"] for w in words] == ["Hello", "world", "How", "are", "you", "today"]
    check_words(words, audio_s)


def test_sse_word_times_follow_speed(server: TinyServer) -> None:
    normal = [w for e in sse_events(server.url) if e["type"] == "speech.audio.words" for w in e["words"]]
    fast = [
        w for e in sse_events(server.url, speed=2.0) if e["type"] == "speech.audio.words" for w in e["words"]
    ]
    assert [w["start"] for w in fast] == pytest.approx([w["start"] / 2 for w in normal], abs=2e-3)


def test_timestamps_need_sse(server: TinyServer) -> None:
    body = {"input": TEXT, "voice": "alloy", "timestamps": "word"}
    reply = httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "timestamps"


def test_websocket_audio_done_has_word_alignment(server: TinyServer) -> None:
    with open_session(server.url) as ws:
        send(ws, type="session.config", voice="alloy", response_format="pcm", timestamp_type="word", seed=3)
        turn = speak(ws, ["Hello world. ", "How are you today?"])
    done = [e for e in turn.events if e["type"] == "audio.done"]
    assert len(done) == 2
    expected = [["Hello", "world"], ["How", "are", "you", "today"]]
    for event, words in zip(done, expected, strict=True):
        alignment = event["timestamp_info"]["word_alignment"]
        assert alignment["words"] == words
        starts, ends = alignment["word_start_times_seconds"], alignment["word_end_times_seconds"]
        duration = len(turn.sentence_audio(event["sentence_index"])) / 48_000
        check_words([{"start": s, "end": e} for s, e in zip(starts, ends, strict=True)], duration)
