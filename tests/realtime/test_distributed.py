"""The WebSocket in distributed mode, with real processes: uvicorn API → Celery (Redis broker) → a worker
process → Redis Streams → API → ``websockets`` client; Postgres and S3 (moto) are the stores. First over the
service tests' fake engine (ordering, turns, formats, early close observed on the Redis stream), then over
the real engine with tiny checkpoints (token-by-token input, inline ``ref_audio`` cloning)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from tests.distributed.conftest import migrated_postgres_url, moto_server, postgres_url, redis_url  # noqa: F401
from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.distributed.harness import tiny_cluster as serve_tiny_cluster
from tests.fixtures.redis_keys import isolated_prefix
from tests.fixtures.s3_server import MotoServer
from tests.realtime.client import event, open_session, send, speak
from tests.realtime.test_turns import tokens
from tests.service.audio_probe import probe
from tests.voices.fakes import recording

FAST, SLOW = "fake-CustomVoice", "slow-CustomVoice"
FRAME_BYTES = 1920 * 2
TINY_MAX_FRAMES = 6


def _env(
    redis: str, prefix: str, database: str, s3: MotoServer, models: dict[str, str], **extra: str
) -> dict:
    namespace = prefix.rstrip(":")
    return distributed_env(
        redis_url=redis, namespace=namespace, database_url=database, s3=s3, models=models, **extra
    )


@pytest.fixture(scope="module")
def cluster(
    redis_url: str,  # noqa: F811
    migrated_postgres_url: str,  # noqa: F811
    moto_server: MotoServer,  # noqa: F811
) -> Iterator[tuple[str, str]]:
    """(API url, the cluster's Redis key prefix) with one fake-engine worker."""
    with isolated_prefix(redis_url, stem="test-") as prefix:
        models = {FAST: "/nonexistent/fast", SLOW: "/nonexistent/slow"}
        env = _env(redis_url, prefix, migrated_postgres_url, moto_server, models)
        spec = f"{FAST}:custom_voice:0,{SLOW}:custom_voice:0.05"
        with worker_process(env, models=spec, hostname="rt@test"), serve_distributed(env) as url:
            yield url, prefix


def test_sentences_turns_and_keep_alive_over_celery(cluster: tuple[str, str]) -> None:
    url, _ = cluster
    with open_session(url) as ws:
        send(ws, type="session.config", voice="alloy", model=FAST)
        first = speak(ws, tokens("First from a worker. Second from a worker! Third"))
        send(ws, type="input.done")
        assert event(ws) == {"type": "session.done", "total_sentences": 0}
        send(ws, type="session.config", voice="echo", model=FAST, response_format="mp3")
        second = speak(ws, ["An mp3 sentence.", " Another."])
    assert first.sentences == ["First from a worker.", "Second from a worker!", "Third"]
    for index, text in enumerate(first.sentences):
        assert len(first.sentence_audio(index)) == (len(text) + 2) * FRAME_BYTES
    assert second.sentences == ["An mp3 sentence.", "Another."]
    assert all(probe(second.sentence_audio(i))["codec_name"] == "mp3" for i in (0, 1))


def test_closing_mid_turn_cancels_the_workers_streams(cluster: tuple[str, str], redis_url: str) -> None:  # noqa: F811
    url, prefix = cluster
    rdb = redis.Redis.from_url(redis_url, socket_timeout=5)
    before = set(rdb.scan_iter(match=f"{prefix}req:ws-*:audio"))
    with open_session(url) as ws:
        send(ws, type="session.config", voice="alloy", model=SLOW)
        send(ws, type="input.text", text="This sentence would take seconds to speak in full. " * 2)
        assert event(ws)["type"] == "audio.start"
        assert isinstance(ws.recv(timeout=30), bytes)
    keys = set(rdb.scan_iter(match=f"{prefix}req:ws-*:audio")) - before
    assert keys, "no stream of this session found"
    for key in keys:
        deadline = time.monotonic() + 10
        while True:
            entries = rdb.xrevrange(key, count=1)
            if entries and b"pcm" not in entries[0][1]:
                break
            assert time.monotonic() < deadline, f"{key!r} never ended after the client left"
            time.sleep(0.02)
        assert b"cancelled" in entries[0][1], entries[0][1]
    rdb.close()


@pytest.fixture(scope="module")
def tiny_cluster(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,  # noqa: F811
    migrated_postgres_url: str,  # noqa: F811
    moto_server: MotoServer,  # noqa: F811
) -> Iterator[str]:
    tiny_checkpoint = pytest.importorskip("qwen_tts.tiny_checkpoint")
    root = Path(tmp_path_factory.mktemp("rt-tiny"))
    checkpoints = {
        name: str(tiny_checkpoint.write_tiny_checkpoint(root / name, kind))
        for name, kind in {"tiny-CustomVoice": "custom_voice", "tiny-Base": "base"}.items()
    }
    from qwen_tts.aligner.tiny_checkpoint import write_tiny_aligner

    aligner = write_tiny_aligner(root / "aligner")
    with serve_tiny_cluster(
        redis_url=redis_url,
        database_url=migrated_postgres_url,
        s3=moto_server,
        models=checkpoints,
        hostname="rt-tiny@test",
        QWEN_TTS_MAX_FRAMES_PER_PIECE=str(TINY_MAX_FRAMES),
        QWEN_TTS_ALIGNER_MODEL=str(aligner),
    ) as url:
        yield url


def test_the_real_engine_speaks_tokens_and_clones_inline_over_celery(tiny_cluster: str) -> None:
    with open_session(tiny_cluster) as ws:
        send(ws, type="session.config", voice="alloy", seed=1)
        turn = speak(ws, tokens("Hello world. This is a test."))
        audio = base64.b64encode(recording(1.5, fmt="wav")).decode()
        send(ws, type="session.config", ref_audio=audio, ref_text="Hello world.", response_format="wav")
        cloned = speak(ws, ["A cloned sentence."])
    assert turn.sentences == ["Hello world.", "This is a test."]
    for index in (0, 1):
        samples = np.frombuffer(turn.sentence_audio(index), dtype="<i2")
        assert 0 < samples.size <= TINY_MAX_FRAMES * 1920 and samples.size % 1920 == 0
    assert cloned.types() == ["audio.start", "audio.done", "session.done"], cloned.events
    assert probe(cloned.sentence_audio(0))["sample_rate"] == 24_000


def test_word_timings_cross_the_redis_stream(tiny_cluster: str) -> None:
    """The worker's aligner times each sentence; audio.done and the speech SSE carry the words."""
    with open_session(tiny_cluster) as ws:
        send(ws, type="session.config", voice="alloy", timestamp_type="word", response_format="pcm", seed=1)
        turn = speak(ws, ["Hello world. ", "How are you?"])
    done = [e for e in turn.events if e["type"] == "audio.done"]
    assert [e["timestamp_info"]["word_alignment"]["words"] for e in done] == [
        ["Hello", "world"],
        ["How", "are", "you"],
    ]
    for sentence in done:
        ends = sentence["timestamp_info"]["word_alignment"]["word_end_times_seconds"]
        assert max(ends) <= len(turn.sentence_audio(sentence["sentence_index"])) / 48_000 + 1e-3
    body = {"input": "Hello world.", "voice": "alloy", "stream_format": "sse", "timestamps": "word"}
    reply = httpx.post(f"{tiny_cluster}/v1/audio/speech", json=body, timeout=120)
    events = [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: ")]
    words = [w["text"] for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert words == ["Hello", "world"] and events[-1]["type"] == "speech.audio.done"
