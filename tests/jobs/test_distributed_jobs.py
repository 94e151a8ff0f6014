"""Jobs in the distributed mode with real processes: uvicorn API → Celery (Redis) → worker processes (fake
engine at the engine boundary) → Postgres + S3 (moto) → webhook receiver on loopback. Includes a SIGKILL of
the worker child in the middle of a segment."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from tests.distributed.harness import distributed_env, serve_distributed, wait_for_worker, worker_process
from tests.fixtures.redis_keys import isolated_prefix
from tests.fixtures.s3_server import MotoServer
from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.cluster import JOB_ENV, MODEL, running_segment, segments
from tests.jobs.receiver import Receiver, run_receiver


@pytest.fixture(scope="module")
def cluster_prefix(redis_url: str) -> Iterator[str]:
    with isolated_prefix(redis_url, stem="jobs-") as prefix:  # the cluster's namespace and ":"
        yield prefix


@pytest.fixture(scope="module")
def env(
    redis_url: str, cluster_prefix: str, migrated_postgres_url: str, moto_server: MotoServer
) -> dict[str, str]:
    return distributed_env(
        redis_url=redis_url,
        namespace=cluster_prefix.rstrip(":"),
        database_url=migrated_postgres_url,
        s3=moto_server,
        models={MODEL: "/nonexistent/fake"},
        **JOB_ENV,
    )


@pytest.fixture(scope="module")
def worker(env: dict[str, str]) -> Iterator[str]:
    hostname = "cpu0@jobs-test"
    with worker_process(env, models=f"{MODEL}:custom_voice:0.03", hostname=hostname):
        yield hostname


@pytest.fixture(scope="module")
def client(env: dict[str, str], worker: str) -> Iterator[httpx.Client]:
    with serve_distributed(env) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


def test_a_book_runs_on_the_workers_with_presigned_downloads_and_one_webhook(
    client: httpx.Client, receiver: Receiver
) -> None:
    body = {"voice": "alloy", "chapters": BOOK, "response_format": "mp3", "callback_url": receiver.url}
    submitted = client.post("/v1/jobs", json=body).json()
    job = wait_for_job(client, submitted["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    assert len(job["outputs"]) == 1 + len(BOOK)
    redirect = client.get(f"/v1/jobs/{job['id']}/chapters/1/audio")
    assert redirect.status_code == 307
    audio = httpx.get(redirect.headers["location"], timeout=30)
    assert audio.status_code == 200 and len(audio.content) > 1000
    assert audio.content[:3] == b"ID3" or audio.content[0] == 0xFF  # an MP3 stream
    (delivery,) = receiver.wait_for(1, timeout_s=30)
    event = Webhook(submitted["webhook"]["secret"]).verify(delivery.body, delivery.headers)
    assert (event["type"], event["data"]["id"]) == ("job.succeeded", job["id"])


def test_a_worker_killed_mid_segment_still_completes_the_job_once(
    client: httpx.Client, receiver: Receiver, env: dict[str, str], worker: str, migrated_postgres_url: str
) -> None:
    text = " ".join(f"Sentence {n} of a job that survives a worker kill." for n in range(16))
    body = {"voice": "alloy", "input": text, "response_format": "pcm", "callback_url": receiver.url}
    job_id = client.post("/v1/jobs", json=body).json()["id"]
    prefix = env["QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE"] + ":"
    rdb = redis.Redis.from_url(env["QWEN_TTS_REDIS_URL"])
    child = wait_for_worker(rdb, prefix, worker, timeout_s=10).pid
    killed = running_segment(migrated_postgres_url, job_id, after=2)
    killed_at = time.monotonic()
    os.kill(child, signal.SIGKILL)  # mid-segment: each takes ~1 s of synthesis
    job = wait_for_job(client, job_id, timeout_s=120)
    recovery_s = time.monotonic() - killed_at
    assert job["status"] == "succeeded", job
    attempts = [n for _, n in segments(migrated_postgres_url, job_id)]
    assert attempts == [2 if n == killed else 1 for n in range(len(attempts))]  # only the killed one reran
    pcm = client.get(f"/v1/jobs/{job_id}/audio", follow_redirects=True).content
    assert len(pcm) // 2 == round(job["outputs"][0]["duration_s"] * 24_000)  # one copy of each segment
    time.sleep(2)  # a duplicate webhook would arrive by now
    deliveries = receiver.wait_for(1, timeout_s=30)
    assert [json.loads(d.body)["type"] for d in deliveries] == ["job.succeeded"]
    print(f"worker kill: segment {killed} rerun; job done {recovery_s:.1f} s after the SIGKILL")
    rdb.close()


def test_cancel_on_the_api_sends_the_canceled_webhook_through_the_workers(
    client: httpx.Client, receiver: Receiver
) -> None:
    text = " ".join(f"Sentence {n} of a job that gets canceled." for n in range(20))
    submitted = client.post(
        "/v1/jobs", json={"voice": "alloy", "input": text, "callback_url": receiver.url}
    ).json()
    assert client.post(f"/v1/jobs/{submitted['id']}/cancel").json()["status"] == "canceled"
    (delivery,) = receiver.wait_for(1, timeout_s=30)
    event = Webhook(submitted["webhook"]["secret"]).verify(delivery.body, delivery.headers)
    assert (event["type"], event["data"]["status"]) == ("job.canceled", "canceled")
