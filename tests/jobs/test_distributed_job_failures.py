"""Every job reaches a terminal state, in the distributed mode with real processes: the API (and its janitor)
in uvicorn, Celery worker processes over Redis, Postgres, and S3 (moto) behind a fault proxy that takes the
blob store down for real (``tests.fixtures.s3_faults``).

- A worker whose encoder raises fails the job at once: ``finalize_failed`` at step ``encode``, one webhook.
- An S3 outage at upload that outlasts the bounded retries fails the job at step ``upload``; one that ends
  within them lets the job succeed.
- A whole worker SIGKILLed mid-finalize: the janitor sends the finalize again once the job's row has not
  changed for longer than any task may live; the next worker finishes it, one webhook.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.fixtures.redis_keys import isolated_namespace
from tests.fixtures.s3_faults import S3FaultProxy, run_s3_fault_proxy
from tests.fixtures.s3_server import MotoServer
from tests.jobs.client import wait_for_job
from tests.jobs.cluster import JOB_ENV, finalize_attempts
from tests.jobs.receiver import Receiver, only_delivery, run_receiver

FINE, BROKEN, STALLING = "fake-CustomVoice", "fake-Broken", "fake-Stalling"  # one model queue each
HARD_LIMIT_S = 10  # the smallest hard time limit the settings accept: the janitor's window is 15 s
ENV = {
    "QWEN_TTS_DISTRIBUTED__TASK_TIME_LIMIT_S": str(HARD_LIMIT_S),
    "QWEN_TTS_DISTRIBUTED__TASK_SOFT_TIME_LIMIT_S": "9",
    "QWEN_TTS_DISTRIBUTED__VISIBILITY_TIMEOUT_S": "12",
    "QWEN_TTS_JOBS__SWEEP_INTERVAL_S": "1",
    "QWEN_TTS_JOBS__FINALIZE_RETRY_DELAY_S": "0.5",
}
OUTPUTS = r"^/[^/]+/jobs/[^/]+/(audio\.|chapters/)"  # PUTs of a job's outputs, not of its segments
S3_TRIES = 4  # one failed put: the S3 client's request and its 3 retries
TEXT = " ".join(f"Sentence {n} of a job that must end." for n in range(6))


@pytest.fixture(scope="module")
def proxy(moto_server: MotoServer) -> Iterator[S3FaultProxy]:
    with run_s3_fault_proxy(moto_server) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def env(redis_url: str, migrated_postgres_url: str, proxy: S3FaultProxy) -> Iterator[dict[str, str]]:
    with isolated_namespace(redis_url, stem="jobfail-") as namespace:
        yield distributed_env(
            redis_url=redis_url,
            namespace=namespace,
            database_url=migrated_postgres_url,
            s3=proxy.as_moto(),
            models={name: "/nonexistent/fake" for name in (FINE, BROKEN, STALLING)},
            **JOB_ENV,
            **ENV,
        )


@pytest.fixture(scope="module")
def client(env: dict[str, str]) -> Iterator[httpx.Client]:
    with (
        worker_process(env, models=f"{FINE}:custom_voice:0.01", hostname="cpu0@jobfail-fine"),
        worker_process(
            env, models=f"{BROKEN}:custom_voice:0.01", hostname="cpu1@jobfail-broken", encoder="broken"
        ),
        serve_distributed(env) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


@pytest.fixture
def receiver(proxy: S3FaultProxy) -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver
    proxy.clear()


def submit(client: httpx.Client, receiver: Receiver, model: str, response_format: str = "wav") -> str:
    body: dict[str, Any] = {"model": model, "voice": "alloy", "input": TEXT, "callback_url": receiver.url}
    response = client.post("/v1/jobs", json=body | {"response_format": response_format})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def assert_nothing_running(client: httpx.Client) -> None:
    for status in ("running", "queued"):
        assert client.get("/v1/jobs", params={"status": status}).json()["data"] == []


def test_an_encoder_that_raises_on_the_worker_fails_the_job_once(
    client: httpx.Client, receiver: Receiver, migrated_postgres_url: str
) -> None:
    job_id = submit(client, receiver, BROKEN)
    job = wait_for_job(client, job_id, timeout_s=90)
    assert job["status"] == "failed", job
    assert (job["error"]["code"], job["error"]["step"]) == ("finalize_failed", "encode")
    assert "the wav encoder fell over" in job["error"]["message"]
    assert finalize_attempts(migrated_postgres_url, job_id) == 1  # deterministic: not retried
    assert only_delivery(receiver, "job.failed")["data"]["error"] == job["error"]
    assert_nothing_running(client)


def test_an_s3_outage_that_outlasts_the_retries_fails_the_job_at_upload(
    client: httpx.Client, receiver: Receiver, proxy: S3FaultProxy, migrated_postgres_url: str
) -> None:
    outage = proxy.fail("PUT", OUTPUTS, times=math.inf)
    job_id = submit(client, receiver, FINE)
    job = wait_for_job(client, job_id, timeout_s=90)
    assert job["status"] == "failed", job
    assert (job["error"]["code"], job["error"]["step"]) == ("finalize_failed", "upload")
    assert "ServiceUnavailable" in job["error"]["message"] and "attempt 3 of 3" in job["error"]["message"]
    assert finalize_attempts(migrated_postgres_url, job_id) == 3
    assert outage.failed == 3 * S3_TRIES
    assert only_delivery(receiver, "job.failed")["data"]["error"]["step"] == "upload"
    assert_nothing_running(client)


def test_an_s3_outage_that_ends_within_the_retries_lets_the_job_succeed(
    client: httpx.Client, receiver: Receiver, proxy: S3FaultProxy, migrated_postgres_url: str
) -> None:
    outage = proxy.fail("PUT", OUTPUTS, times=S3_TRIES)  # the first finalize attempt's upload fails
    job_id = submit(client, receiver, FINE, response_format="pcm")
    job = wait_for_job(client, job_id, timeout_s=90)
    assert job["status"] == "succeeded" and job["error"] is None, job
    assert outage.failed == S3_TRIES and finalize_attempts(migrated_postgres_url, job_id) == 2
    pcm = client.get(f"/v1/jobs/{job_id}/audio", follow_redirects=True).content
    assert len(pcm) // 2 == round(job["outputs"][0]["duration_s"] * 24_000)
    assert only_delivery(receiver, "job.succeeded")["data"]["id"] == job_id


def wait_for_model(client: httpx.Client, name: str, timeout_s: float = 30.0) -> None:
    """Until the API has seen a live worker serve ``name`` (its registry refreshes every lease)."""
    deadline = time.monotonic() + timeout_s
    while name not in {m["id"] for m in client.get("/v1/models").json()["data"]}:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no worker serves {name} after {timeout_s} s")
        time.sleep(0.1)


def wait_for_file(path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()):
            return text
        time.sleep(0.02)
    raise TimeoutError(f"{path} did not appear within {timeout_s} s")


def test_a_worker_killed_mid_finalize_is_replaced_by_the_janitor_and_the_job_ends_once(
    client: httpx.Client,
    receiver: Receiver,
    env: dict[str, str],
    migrated_postgres_url: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "stalled-finalize.pid"
    spec = f"{STALLING}:custom_voice:0.01"
    with worker_process(env, models=spec, hostname="cpu2@jobfail-doomed", encoder=f"stall-once:{marker}"):
        wait_for_model(client, STALLING)
        job_id = submit(client, receiver, STALLING, response_format="pcm")
        child = int(wait_for_file(marker, timeout_s=90))  # the child is inside the finalize now
        killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(child), signal.SIGKILL)  # the whole worker: its main process and its child
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    with worker_process(env, models=spec, hostname="cpu3@jobfail-heir", encoder=f"stall-once:{marker}"):
        job = wait_for_job(client, job_id, timeout_s=90)
        recovery_s = time.monotonic() - killed_at
        assert job["status"] == "succeeded", job
        assert finalize_attempts(migrated_postgres_url, job_id) == 2
        assert recovery_s >= HARD_LIMIT_S  # the janitor's doing: it waits until no task can be alive
        assert only_delivery(receiver, "job.succeeded", quiet_s=3)["data"]["id"] == job_id
    print(f"finalize worker kill: job done {recovery_s:.1f} s after the SIGKILL")
