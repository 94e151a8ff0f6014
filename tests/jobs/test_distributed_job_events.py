"""``GET /v1/jobs/{id}/events`` in the distributed mode with real processes: the API in uvicorn, Celery worker
processes over Redis (fake engine at the engine boundary), Postgres and S3 (moto). The events are written by
the workers' transitions into Postgres and read back by the API process: a whole stream, a reconnect with
``Last-Event-ID`` that gets exactly the missed events, and a job whose finalize fails on its worker."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.distributed.harness import distributed_env, serve_distributed, worker_process
from tests.fixtures.redis_keys import isolated_namespace
from tests.fixtures.s3_server import MotoServer
from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.cluster import JOB_ENV
from tests.jobs.sse import all_events, check_sequence, read_events

FINE, BROKEN = "fake-CustomVoice", "fake-Broken"  # one model queue each; BROKEN's encoder raises
EVENTS_ENV = {"QWEN_TTS_JOBS__EVENTS_POLL_S": "0.1", "QWEN_TTS_JOBS__EVENTS_HEARTBEAT_S": "0.5"}


@pytest.fixture(scope="module")
def env(redis_url: str, migrated_postgres_url: str, moto_server: MotoServer) -> Iterator[dict[str, str]]:
    with isolated_namespace(redis_url, stem="jobevents-") as namespace:
        yield distributed_env(
            redis_url=redis_url,
            namespace=namespace,
            database_url=migrated_postgres_url,
            s3=moto_server,
            models={name: "/nonexistent/fake" for name in (FINE, BROKEN)},
            **JOB_ENV,
            **EVENTS_ENV,
        )


@pytest.fixture(scope="module")
def client(env: dict[str, str]) -> Iterator[httpx.Client]:
    with (
        worker_process(env, models=f"{FINE}:custom_voice:0.02", hostname="cpu0@jobevents-fine"),
        worker_process(
            env, models=f"{BROKEN}:custom_voice:0.01", hostname="cpu1@jobevents-broken", encoder="broken"
        ),
        serve_distributed(env) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def submit(client: httpx.Client, model: str, **body: object) -> str:
    response = client.post(
        "/v1/jobs", json={"model": model, "voice": "alloy", "response_format": "mp3"} | body
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_book_streams_its_progress_chapters_and_end_from_the_workers(client: httpx.Client) -> None:
    job_id = submit(client, FINE, chapters=BOOK)
    events = all_events(client, job_id)
    check_sequence(events, terminal="job.succeeded", chapters=len(BOOK))
    job = wait_for_job(client, job_id)
    assert events[-1].data["segments_done"] == job["progress"]["segments_total"]
    assert client.get(events[-2].data["url"]).status_code == 307  # a chapter URL: presigned S3


def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_events(client: httpx.Client) -> None:
    job_id = submit(client, FINE, input="Words for the workers to speak. " * 16)
    first = list(itertools.islice(read_events(client, job_id), 2))  # then the connection drops
    assert [e.type for e in first] == ["job.progress", "job.progress"]
    rest = all_events(client, job_id, last_event_id=first[-1].id)
    assert first + rest == all_events(client, job_id)  # nothing lost, nothing repeated
    check_sequence(first + rest, terminal="job.succeeded", chapters=1)
    assert all_events(client, job_id, last_event_id=rest[-1].id) == []


def test_a_job_that_fails_on_its_worker_ends_with_the_failed_event(client: httpx.Client) -> None:
    job_id = submit(client, BROKEN, input="This job's encoder falls over. It fails.", response_format="wav")
    events = all_events(client, job_id)
    assert events[-1].type == "job.failed"
    assert events[-1].data["status"] == "failed"
    assert (events[-1].data["error"]["code"], events[-1].data["error"]["step"]) == (
        "finalize_failed",
        "encode",
    )
    assert [e.type for e in events[:-1]] == ["job.progress"] * len(events[:-1])  # no chapter completed
    assert wait_for_job(client, job_id)["error"] == events[-1].data["error"]
