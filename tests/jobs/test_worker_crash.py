"""A whole worker (main process and child) SIGKILLed mid-segment while a second worker runs: its claim's lease
is no longer renewed, and the API's job janitor re-enqueues the stranded segment once it expires (a 3 s lease
here, 30 s by default: not the hard time limit); the job completes with one copy of each segment and exactly
one completion webhook.

Without the janitor, recovery waits for the broker: the visibility timeout plus kombu's restore sweep, which
by default runs every ``unacked_restore_interval`` (10 s) × ``unacked_restore_throttle`` (10) ≈ 100 s
(measured 93.5 s with a 12 s visibility timeout).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.fixtures.redis_keys import isolated_namespace
from tests.fixtures.s3_server import MotoServer
from tests.jobs.client import wait_for_job
from tests.jobs.cluster import JOB_ENV, MODEL, segments
from tests.jobs.receiver import Receiver, run_receiver
from voice_store.models.jobs import SegmentStatus

HARD_LIMIT_S = 10  # the smallest hard time limit the settings accept
VISIBILITY_S = 12  # must exceed it
LEASE_S = 3  # renewed every second while a segment runs
CRASH_ENV = {
    "QWEN_TTS_DISTRIBUTED__TASK_TIME_LIMIT_S": str(HARD_LIMIT_S),
    "QWEN_TTS_DISTRIBUTED__TASK_SOFT_TIME_LIMIT_S": "9",
    "QWEN_TTS_DISTRIBUTED__VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
    "QWEN_TTS_JOBS__SEGMENT_LEASE_S": str(LEASE_S),
    "QWEN_TTS_JOBS__SWEEP_INTERVAL_S": "1",
}


@pytest.fixture(scope="module")
def env(redis_url: str, migrated_postgres_url: str, moto_server: MotoServer) -> Iterator[dict[str, str]]:
    with isolated_namespace(redis_url, stem="crash-") as namespace:
        yield distributed_env(
            redis_url=redis_url,
            namespace=namespace,
            database_url=migrated_postgres_url,
            s3=moto_server,
            models={MODEL: "/nonexistent/fake"},
            **JOB_ENV,
            **CRASH_ENV,
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


def two_running(database_url: str, job_id: str, timeout_s: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = [n for n, (s, _) in enumerate(segments(database_url, job_id)) if s is SegmentStatus.RUNNING]
        if len(running) == 2:
            return running
        time.sleep(0.01)
    raise TimeoutError("the two workers never ran segments at the same time")


def test_a_killed_worker_s_segment_is_enqueued_again_and_the_job_completes_once(
    env: dict[str, str], receiver: Receiver, migrated_postgres_url: str
) -> None:
    spec = f"{MODEL}:custom_voice:0.03"
    with (
        worker_process(env, models=spec, hostname="cpu0@crash-a") as doomed,
        worker_process(env, models=spec, hostname="cpu1@crash-b"),
        serve_distributed(env) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        text = " ".join(f"Sentence {n} of a job whose worker dies." for n in range(14))
        body = {"voice": "alloy", "input": text, "response_format": "pcm", "callback_url": receiver.url}
        job_id = client.post("/v1/jobs", json=body).json()["id"]
        two_running(migrated_postgres_url, job_id)
        killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(doomed.pid, signal.SIGKILL)  # the whole worker: its main process and its child
        job = wait_for_job(client, job_id, timeout_s=120)
        recovery_s = time.monotonic() - killed_at
        assert job["status"] == "succeeded", job
        attempts = [n for _, n in segments(migrated_postgres_url, job_id)]
        assert sorted(attempts) == [1] * (len(attempts) - 1) + [2], attempts
        assert recovery_s < HARD_LIMIT_S + 30  # the janitor's doing, not kombu's ~100 s sweep
        pcm = client.get(f"/v1/jobs/{job_id}/audio", follow_redirects=True).content
        assert len(pcm) // 2 == round(job["outputs"][0]["duration_s"] * 24_000)
        time.sleep(2)
        assert [json.loads(d.body)["type"] for d in receiver.wait_for(1)] == ["job.succeeded"]
        print(f"whole-worker kill: job done {recovery_s:.1f} s after the SIGKILL (lease {LEASE_S} s)")
