"""One worker child serves several streams at once (its engine host, ``optimization.max_batch_size``), with
real processes: uvicorn API → Celery (Redis) → a worker process (fake engine) → Redis Streams → client.

Whether two streams ran together is read from the order of their Redis entries (one server clock, entry ids
increase), not from durations: overlapping streams each start before the other ends; with a batch of one
they follow each other. Time limits, the watchdog and shutdown keep their guarantees for handed-off streams.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.fixtures.redis_keys import isolated_namespace
from tests.fixtures.s3_server import MotoServer
from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes
from workers.contracts import WorkerStatus, worker_key

FAKE, STUCK = "fake-CustomVoice", "stuck-CustomVoice"
TEXT = "Each of these requests speaks for a while."  # 44 frames: 22 chunks
LONG = "This input would take many seconds to speak in full. " * 5  # 136 chunks
VOICES = ("alloy", "echo", "fable")


@dataclass(frozen=True)
class Cluster:
    url: str
    prefix: str
    hostname: str
    process: Any
    rdb: redis.Redis


@pytest.fixture
def make_cluster(redis_url: str, migrated_postgres_url: str, moto_server: MotoServer) -> Iterator[Any]:
    with contextlib.ExitStack() as stack:

        def make(*, max_batch_size: int, models: str = f"{FAKE}:custom_voice:0.05", **extra: str) -> Cluster:
            namespace = stack.enter_context(isolated_namespace(redis_url, stem="batch-"))
            names = [item.split(":")[0] for item in models.split(",")]
            env = distributed_env(
                redis_url=redis_url,
                namespace=namespace,
                database_url=migrated_postgres_url,
                s3=moto_server,
                models={name: f"/nonexistent/{name}" for name in names},
                QWEN_TTS_OPTIMIZATION__MAX_BATCH_SIZE=str(max_batch_size),
                **extra,
            )
            hostname = f"cpu0@{namespace}"
            process = stack.enter_context(worker_process(env, models=models, hostname=hostname))
            url = stack.enter_context(serve_distributed(env))
            rdb = redis.Redis.from_url(redis_url, socket_timeout=5)
            stack.callback(rdb.close)
            return Cluster(url, f"{namespace}:", hostname, process, rdb)

        yield make


@pytest.fixture(scope="module")
def embedded_url() -> Iterator[str]:
    with serve_fakes({FAKE: FakeEngine()}) as url:
        yield url


def speak(
    url: str,
    text: str,
    voice: str,
    request_id: str,
    *,
    model: str = FAKE,
    started: threading.Event | None = None,
    times: list[float] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The audio of one SSE speech request and its last event (or its error); ``started``: set at the first
    event; ``times``: gets the arrival time of each audio event (the streams are deleted from Redis once read,
    so when each stream ran is told by its client)."""
    body = {"model": model, "voice": voice, "input": text, "response_format": "pcm", "stream_format": "sse"}
    audio, last = bytearray(), {}
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", f"{url}/v1/audio/speech", json=body, headers={"x-request-id": request_id}
        ) as response,
    ):
        if response.status_code != 200:  # failed before its first chunk: an error response, not an event
            return b"", {"type": "error", "error": json.loads(response.read())["error"]}
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            last = json.loads(line[6:])
            if started is not None:
                started.set()
            if last["type"] == "speech.audio.delta":
                audio += base64.b64decode(last["audio"])
                if times is not None:
                    times.append(time.monotonic())
    return bytes(audio), last


def embedded_pcm(url: str, text: str, voice: str) -> bytes:
    audio, last = speak(url, text, voice, f"embedded{secrets.token_hex(4)}")
    assert last["type"] == "speech.audio.done", last
    return audio


def worker_status(cluster: Cluster) -> WorkerStatus | None:
    raw = cluster.rdb.get(worker_key(cluster.prefix, cluster.hostname))
    return None if raw is None else WorkerStatus.model_validate_json(raw)


def test_concurrent_streams_on_one_worker_run_together_and_the_status_lists_them(
    make_cluster: Any, embedded_url: str
) -> None:
    cluster = make_cluster(max_batch_size=3)
    ids = [f"together{n}{secrets.token_hex(4)}" for n in range(3)]
    spans: list[list[float]] = [[] for _ in ids]
    statuses: list[WorkerStatus] = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(speak, cluster.url, TEXT, voice, rid, times=times)
            for voice, rid, times in zip(VOICES, ids, spans, strict=False)
        ]
        deadline = time.monotonic() + 30
        while not any(set(ids) <= set(s.in_flight) for s in statuses) and time.monotonic() < deadline:
            if (status := worker_status(cluster)) is not None:
                statuses.append(status)
            time.sleep(0.02)
        results = [future.result() for future in futures]
    assert any(set(ids) <= set(s.in_flight) for s in statuses), [s.in_flight for s in statuses]
    assert statuses[-1].capacity == 3 and statuses[-1].running in ids
    for (audio, last), voice in zip(results, VOICES, strict=True):
        assert last["type"] == "speech.audio.done", last
        assert audio == embedded_pcm(embedded_url, TEXT, voice), f"audio of {voice!r} differs"
    for first in spans:
        for other in spans:
            assert first[0] < other[-1], "a stream started only after another one ended"


def test_with_a_batch_of_one_a_worker_runs_one_stream_at_a_time(make_cluster: Any) -> None:
    cluster = make_cluster(max_batch_size=1)
    ids = [f"alone{n}{secrets.token_hex(4)}" for n in range(2)]
    spans: list[list[float]] = [[] for _ in ids]
    with ThreadPoolExecutor(max_workers=2) as pool:
        calls = zip(VOICES, ids, spans, strict=False)
        results = list(pool.map(lambda a: speak(cluster.url, TEXT, a[0], a[1], times=a[2]), calls))
    assert all(last["type"] == "speech.audio.done" for _, last in results), results
    first, second = sorted(spans)
    assert first[-1] < second[0], "the second stream started before the first one ended"


def test_a_stream_past_the_soft_time_limit_ends_with_a_time_limit_error(make_cluster: Any) -> None:
    cluster = make_cluster(
        max_batch_size=2,
        models=f"{FAKE}:custom_voice:0.1",  # LONG takes ~14 s
        QWEN_TTS_DISTRIBUTED__TASK_SOFT_TIME_LIMIT_S="5",
        QWEN_TTS_DISTRIBUTED__TASK_TIME_LIMIT_S="10",
        QWEN_TTS_DISTRIBUTED__VISIBILITY_TIMEOUT_S="12",
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        long = pool.submit(speak, cluster.url, LONG, "alloy", f"long{secrets.token_hex(4)}")
        short = pool.submit(speak, cluster.url, "Short.", "echo", f"short{secrets.token_hex(4)}")
        (long_audio, long_last), (_, short_last) = long.result(), short.result()
    assert long_last["type"] == "error" and long_last["error"]["code"] == "time_limit", long_last
    assert 0 < len(long_audio) < 136 * 2 * 1920 * 2
    assert short_last["type"] == "speech.audio.done", short_last
    assert speak(cluster.url, "After the limit.", "fable", "after")[1]["type"] == "speech.audio.done"


def test_a_step_blocked_past_the_hard_limit_ends_the_child_and_a_new_one_serves(make_cluster: Any) -> None:
    cluster = make_cluster(
        max_batch_size=2,
        models=f"{FAKE}:custom_voice:0,{STUCK}:custom_voice:0:60",
        QWEN_TTS_DISTRIBUTED__TASK_SOFT_TIME_LIMIT_S="9",
        QWEN_TTS_DISTRIBUTED__TASK_TIME_LIMIT_S="10",
        QWEN_TTS_DISTRIBUTED__VISIBILITY_TIMEOUT_S="12",
    )
    child = worker_status(cluster)
    assert child is not None
    _, last = speak(cluster.url, "Hang here for a minute.", "alloy", "stuck", model=STUCK)
    assert last["type"] == "error" and last["error"]["code"] == "worker_lost", last
    deadline = time.monotonic() + 60
    while (status := worker_status(cluster)) is None or status.pid == child.pid:
        assert time.monotonic() < deadline, "no new child published its status"
        time.sleep(0.1)
    while httpx.get(f"{cluster.url}/readyz", timeout=10).status_code != 200:  # the API sees it (~1 s)
        assert time.monotonic() < deadline, "the API never saw the new child"
        time.sleep(0.1)
    assert speak(cluster.url, "A new child serves.", "echo", "fresh")[1]["type"] == "speech.audio.done"


def test_sigterm_lets_the_streams_in_flight_finish_and_ends_the_rest_with_an_error(
    make_cluster: Any, embedded_url: str
) -> None:
    cluster = make_cluster(max_batch_size=2, QWEN_TTS_DISTRIBUTED__SOFT_SHUTDOWN_TIMEOUT_S="6")
    started = [threading.Event(), threading.Event()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        short = pool.submit(speak, cluster.url, TEXT, "alloy", "drains", started=started[0])
        long = pool.submit(speak, cluster.url, LONG * 3, "echo", "cut", started=started[1])
        assert all(event.wait(30) for event in started)
        os.kill(cluster.process.pid, signal.SIGTERM)  # the main process only, as `docker stop` does
        (short_audio, short_last), (_, long_last) = short.result(), long.result()
    assert short_last["type"] == "speech.audio.done", short_last
    assert short_audio == embedded_pcm(embedded_url, TEXT, "alloy")
    assert long_last["type"] == "error", long_last
    assert long_last["error"]["code"] == "service_unavailable", long_last  # an error entry, not a lost lease
    cluster.process.wait(timeout=30)
    assert worker_status(cluster) is None


def test_a_cancelled_stream_stops_and_frees_its_place_while_the_other_runs_on(make_cluster: Any) -> None:
    cluster = make_cluster(max_batch_size=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        kept_times: list[float] = []
        kept = pool.submit(speak, cluster.url, LONG, "alloy", "kept", times=kept_times)
        body = {"model": FAKE, "voice": "echo", "input": LONG, "response_format": "pcm", "stream": True}
        with (
            httpx.Client(timeout=30) as client,
            client.stream(
                "POST", f"{cluster.url}/v1/audio/speech", json=body, headers={"x-request-id": "dropped"}
            ) as response,
        ):
            next(response.iter_bytes())
            response.close()  # the client goes away: the API sets the cancel key
        (key,) = list(cluster.rdb.scan_iter(match=f"{cluster.prefix}req:dropped.*:audio"))
        cancel_key = key.decode().removesuffix(":audio") + ":cancel"
        deadline = time.monotonic() + 10
        while not cluster.rdb.exists(cancel_key):
            assert time.monotonic() < deadline, "the API never cancelled the stream"
            time.sleep(0.005)
        written_at_cancel = cluster.rdb.xlen(key)
        # its place is free: a third request runs next to the one still going
        third_times: list[float] = []
        _, third_last = speak(cluster.url, TEXT, "fable", "third", times=third_times)
        _, kept_last = kept.result()
    (_, final), *_ = cluster.rdb.xrevrange(key, count=1)
    assert b"cancelled" in final, final
    assert int(final[b"seq"]) - written_at_cancel <= 2, "the worker ran on after the cancel"
    assert third_last["type"] == "speech.audio.done" and kept_last["type"] == "speech.audio.done"
    assert third_times[-1] < kept_times[-1]  # the third ran beside the kept one, in the place freed
