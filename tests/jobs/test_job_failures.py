"""Every job reaches a terminal state, in the embedded mode: a finalize whose encoder raises, whose uploads
or reads fail, or whose process dies ends ``failed`` (after bounded retries) with the step in its error and
exactly one ``job.failed`` webhook; a transient failure that recovers within the budget ends ``succeeded``.

Faults go in at the seams the code offers: the jobs' encoder (``encode``) and their blob store."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.audio.whole import encode_file
from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.jobs.fault_encoders import broken_encoder
from tests.jobs.receiver import Receiver, only_delivery, run_receiver
from tests.service.fake_engine import FakeEngine
from voice_store.blobs import BlobStore
from voice_store.db import session_scope
from voice_store.errors import BlobStoreError
from voice_store.jobs import get_job

MODEL = "fake-CustomVoice"
TEXT = "It was a bright cold day in April. The clocks were striking thirteen. " * 2


class FlakyBlobs:
    """A blob store whose output uploads (``put``) or segment reads (``get``) fail ``failures`` times, as an
    unreachable S3 does (``BlobStoreError``); the segments' own audio is stored normally."""

    def __init__(self, blobs: BlobStore, *, method: str, failures: float) -> None:
        self._blobs = blobs
        self.method = method
        self.failures = failures
        self.failed = 0

    def _fault(self, method: str, key: str) -> None:
        is_output = "/segments/" not in key
        if method == self.method and (is_output or method == "get") and self.failed < self.failures:
            self.failed += 1
            raise BlobStoreError(f"S3 request on bucket 'jobs' failed: could not connect ({method} {key})")

    def put(self, key: str, data: Any, **kwargs: Any) -> None:
        self._fault("put", key)
        self._blobs.put(key, data, **kwargs)

    def get(self, key: str) -> bytes:
        self._fault("get", key)
        return self._blobs.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


class ProcessDied(BaseException):
    """Ends the job thread the way a killed process ends everything: nothing after it runs."""


def dying_encoder(blocks: Iterable[bytes], fmt: str, path: Path, **_: Any) -> None:
    raise ProcessDied


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


def submit(server: EmbeddedServer, receiver: Receiver, **body: Any) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url, timeout=30)
    payload = {"voice": "alloy", "response_format": "wav", "callback_url": receiver.url} | body
    return client, client.post("/v1/jobs", json=payload).raise_for_status().json()["id"]


def finalize_attempts(server: EmbeddedServer, job_id: str) -> int:
    with session_scope(server.sessions) as session:
        return get_job(session=session, job_id=job_id).finalize_attempts


def assert_nothing_running(client: httpx.Client) -> None:
    for status in ("running", "queued"):
        assert client.get("/v1/jobs", params={"status": status}).json()["data"] == []


def test_an_encoder_that_raises_fails_the_job_at_once_naming_the_step(
    tmp_path: Path, receiver: Receiver
) -> None:
    engine = FakeEngine("custom_voice", delay_s=0.002)
    with embedded_server(tmp_path, {MODEL: engine}, encode=broken_encoder) as server:
        client, job_id = submit(server, receiver, chapters=BOOK)
        job = wait_for_job(client, job_id)
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "finalize_failed" and job["error"]["step"] == "encode"
        assert (
            "the wav encoder fell over" in job["error"]["message"]
            and "not retryable" in job["error"]["message"]
        )
        assert finalize_attempts(server, job_id) == 1  # deterministic: never retried
        assert job["outputs"] == [] and job["progress"]["percent"] == 100.0
        event = only_delivery(receiver, "job.failed")
        assert event["data"]["error"] == job["error"] and event["data"]["status"] == "failed"
        assert_nothing_running(client)
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        step = schema["JobError"]["properties"]["step"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
        assert set(schema[step]["enum"]) == {"segment", "enqueue", "read", "encode", "upload", "finalize"}


@pytest.mark.parametrize(("method", "step"), [("put", "upload"), ("get", "read")])
def test_a_blob_store_that_stays_down_fails_the_job_after_bounded_retries(
    tmp_path: Path, receiver: Receiver, method: str, step: str
) -> None:
    flaky: list[FlakyBlobs] = []

    def wrap(blobs: BlobStore) -> BlobStore:
        flaky.append(FlakyBlobs(blobs, method=method, failures=math.inf))
        return flaky[0]  # type: ignore[return-value]

    engine = FakeEngine("custom_voice", delay_s=0.002)
    with embedded_server(tmp_path, {MODEL: engine}, wrap_blobs=wrap) as server:
        client, job_id = submit(server, receiver, input=TEXT)
        job = wait_for_job(client, job_id)
        attempts = server.settings.jobs.max_finalize_attempts
        assert job["status"] == "failed", job
        assert (job["error"]["code"], job["error"]["step"]) == ("finalize_failed", step)
        assert f"attempt {attempts} of {attempts}" in job["error"]["message"]
        assert "could not connect" in job["error"]["message"]
        assert finalize_attempts(server, job_id) == attempts == flaky[0].failed
        assert only_delivery(receiver, "job.failed")["data"]["error"]["step"] == step
        assert_nothing_running(client)


def test_a_transient_upload_failure_that_recovers_ends_succeeded(tmp_path: Path, receiver: Receiver) -> None:
    def wrap(blobs: BlobStore) -> BlobStore:
        return FlakyBlobs(blobs, method="put", failures=1)  # type: ignore[return-value]

    engine = FakeEngine("custom_voice", delay_s=0.002)
    with embedded_server(tmp_path, {MODEL: engine}, wrap_blobs=wrap) as server:
        client, job_id = submit(server, receiver, input=TEXT, response_format="pcm")
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded" and job["error"] is None, job
        assert finalize_attempts(server, job_id) == 2
        pcm = client.get(f"/v1/jobs/{job_id}/audio").content
        assert len(pcm) // 2 == round(job["outputs"][0]["duration_s"] * 24_000)
        only_delivery(receiver, "job.succeeded")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize(
    ("max_attempts", "status", "step"), [(2, "succeeded", None), (1, "failed", "finalize")]
)
def test_a_finalize_whose_process_died_resumes_bounded_after_a_restart(
    tmp_path: Path, receiver: Receiver, max_attempts: int, status: str, step: str | None
) -> None:
    engine = FakeEngine("custom_voice", delay_s=0.002)
    jobs = {"max_finalize_attempts": max_attempts}
    with embedded_server(tmp_path, {MODEL: engine}, encode=dying_encoder, **jobs) as first:
        client, job_id = submit(first, receiver, input=TEXT)
        job = wait_for_job(client, job_id, until={"running"})
        while job["progress"]["percent"] < 100 or finalize_attempts(first, job_id) == 0:
            job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "running"  # its finalize died with the process: nothing recorded it
    with embedded_server(tmp_path, {MODEL: engine}, encode=encode_file, **jobs) as second:
        client = httpx.Client(base_url=second.url, timeout=30)
        job = wait_for_job(client, job_id)
        assert job["status"] == status, job
        assert (job["error"] or {}).get("step") == step
        assert finalize_attempts(second, job_id) == max_attempts
        assert only_delivery(receiver, f"job.{status}")["data"]["id"] == job_id
        assert_nothing_running(client)
