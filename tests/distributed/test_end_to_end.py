"""The whole distributed path with real processes: OpenAI SDK → uvicorn API → Celery (Redis broker) → a worker
process (fake engine) → Redis Streams → API → client; Postgres and S3 (moto) are the stores both sides open.
The audio must equal what the embedded mode produces for the same request."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import redis

from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.fixtures.redis_keys import isolated_prefix
from tests.fixtures.s3_server import MotoServer
from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes

FAST, SLOW = "fake-CustomVoice", "slow-CustomVoice"
WORKER_MODELS = f"{FAST}:custom_voice:0,{SLOW}:custom_voice:0.05"
VOICES = ("alloy", "echo", "fable", "nova", "onyx", "shimmer", "coral", "sage")
LONG = "This input would take many seconds to speak in full. " * 5  # 136 chunks of 80 ms at 50 ms each


@pytest.fixture(scope="module")
def cluster_prefix(redis_url: str) -> Iterator[str]:
    with isolated_prefix(redis_url, stem="test-") as prefix:  # the cluster's namespace and ":"
        yield prefix


@pytest.fixture(scope="module")
def env(
    redis_url: str, cluster_prefix: str, migrated_postgres_url: str, moto_server: MotoServer
) -> dict[str, str]:
    models = {FAST: "/nonexistent/fast", SLOW: "/nonexistent/slow"}
    return distributed_env(
        redis_url=redis_url,
        namespace=cluster_prefix.rstrip(":"),
        database_url=migrated_postgres_url,
        s3=moto_server,
        models=models,
    )


@pytest.fixture(scope="module")
def api_url(env: dict[str, str]) -> Iterator[str]:
    with (
        worker_process(env, models=WORKER_MODELS, hostname="gpu0@test"),
        serve_distributed(env) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def embedded_url() -> Iterator[str]:
    with serve_fakes({FAST: FakeEngine(), SLOW: FakeEngine()}) as url:
        yield url


@pytest.fixture
def rdb(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield client
    client.close()


def speech_pcm(url: str, text: str, voice: str, model: str = FAST) -> bytes:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=60)
    with client.audio.speech.with_streaming_response.create(
        model=model, voice=voice, input=text, response_format="pcm", extra_body={"stream_format": "audio"}
    ) as response:
        return b"".join(response.iter_bytes())


def stream_key(client: redis.Redis, prefix: str, request_id: str) -> str:
    keys = list(client.scan_iter(match=f"{prefix}req:{request_id}.*:audio"))
    assert len(keys) == 1, keys
    return keys[0].decode()


def test_the_openai_sdk_streams_the_same_audio_as_the_embedded_mode(api_url: str, embedded_url: str) -> None:
    text = "Hello from a Celery worker. The second sentence streams too."
    audio = speech_pcm(api_url, text, "alloy")
    assert len(audio) > 0
    assert audio == speech_pcm(embedded_url, text, "alloy")


def test_eight_concurrent_streams_through_one_worker_complete_with_ordered_audio(
    api_url: str, embedded_url: str
) -> None:
    requests = [(f"Request number {i} says something different.", VOICES[i]) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: speech_pcm(api_url, *r), requests))
    for (text, voice), audio in zip(requests, results, strict=True):
        assert audio == speech_pcm(embedded_url, text, voice), f"audio of {voice!r} differs"


def test_readyz_and_models_come_from_the_live_worker(api_url: str) -> None:
    ready = httpx.get(f"{api_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["models"]) == {FAST, SLOW}
    listed = {m["id"] for m in httpx.get(f"{api_url}/v1/models", timeout=10).json()["data"]}
    assert {FAST, SLOW} <= listed


def test_a_disconnected_client_stops_the_worker_within_two_chunks(
    api_url: str, cluster_prefix: str, rdb: redis.Redis
) -> None:
    request_id = f"disconnect{secrets.token_hex(4)}"
    body = {"model": SLOW, "voice": "alloy", "input": LONG, "response_format": "pcm", "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{api_url}/v1/audio/speech", json=body, headers={"x-request-id": request_id}
        ) as response,
    ):
        next(response.iter_bytes())
        response.close()
    key = stream_key(rdb, cluster_prefix, request_id)
    cancel_key = key.removesuffix(":audio") + ":cancel"
    deadline = time.monotonic() + 5
    while not rdb.exists(cancel_key):
        assert time.monotonic() < deadline, "the API never cancelled the stream"
        time.sleep(0.005)
    written_at_cancel = rdb.xlen(key)
    final = _final_entry(rdb, key, timeout_s=5)
    assert b"cancelled" in final, final
    assert int(final[b"seq"]) - written_at_cancel <= 2, "the worker ran on after the cancel"
    assert int(final[b"seq"]) < 136


def test_a_worker_killed_mid_stream_ends_the_response_with_an_error_quickly(
    api_url: str, embedded_url: str, cluster_prefix: str, rdb: redis.Redis
) -> None:
    request_id = f"kill{secrets.token_hex(4)}"
    body = {"model": SLOW, "voice": "alloy", "input": LONG, "response_format": "pcm", "stream_format": "sse"}
    events = []
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{api_url}/v1/audio/speech", json=body, headers={"x-request-id": request_id}
        ) as response,
    ):
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        events.append(json.loads(next(lines)[6:]))
        key = stream_key(rdb, cluster_prefix, request_id)
        lease = rdb.get(key.removesuffix(":audio") + ":lease").decode()
        os.kill(int(lease.rpartition(":")[2]), signal.SIGKILL)  # the prefork child running the task
        killed_at = time.monotonic()
        events.extend(json.loads(line[6:]) for line in lines)
        took = time.monotonic() - killed_at
    assert events[0]["type"] == "speech.audio.delta"
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "worker_lost", events[-1]
    assert took < 4.0, f"the client waited {took:.1f} s"
    written = rdb.xlen(key)
    # the restarted child gets the redelivered task (acks_late) and must not run it again
    text = "After the crash the worker serves again."
    assert speech_pcm(api_url, text, "echo") == speech_pcm(embedded_url, text, "echo")
    assert rdb.xlen(key) == written


def _final_entry(client: redis.Redis, key: str, *, timeout_s: float) -> dict[bytes, bytes]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entries = client.xrevrange(key, count=1)
        if entries and b"pcm" not in entries[0][1]:
            return entries[0][1]
        time.sleep(0.02)
    raise AssertionError(f"no final entry on {key} within {timeout_s} s")
