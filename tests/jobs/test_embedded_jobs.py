"""The jobs API end to end in the embedded mode: real HTTP, SQLite, local blobs, the in-process queue, a fake
engine at the engine boundary and a webhook receiver on loopback."""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from standardwebhooks import Webhook

from tests.jobs.client import BOOK, wait_for_job, wait_for_progress
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.jobs.receiver import Receiver, run_receiver
from tests.service.fake_engine import FakeEngine

MODEL = "fake-CustomVoice"


class PoisonEngine(FakeEngine):
    """Fails every piece that contains POISON (a segment that can never succeed)."""

    def stream(self, request):  # type: ignore[no-untyped-def]
        if "POISON" in request.text:
            raise RuntimeError("the engine fell over")
        return super().stream(request)


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return PoisonEngine("custom_voice", delay_s=0.002)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: FakeEngine) -> Iterator[EmbeddedServer]:
    with embedded_server(tmp_path_factory.mktemp("jobs"), {MODEL: engine}, max_input_chars=5000) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


def wav_samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_a_book_is_spoken_per_chapter_and_whole_with_one_signed_webhook(
    client: httpx.Client, receiver: Receiver, server: EmbeddedServer
) -> None:
    body = {
        "voice": "alloy",
        "chapters": BOOK,
        "response_format": "wav",
        "callback_url": receiver.url,
        "metadata": {"book": "1984"},
    }
    created = client.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    submitted = created.json()
    assert submitted["status"] == "queued" and submitted["webhook"]["secret"].startswith("whsec_")
    job = wait_for_job(client, submitted["id"])
    assert job["status"] == "succeeded", job
    progress = job["progress"]
    assert progress["segments_done"] == progress["segments_total"] >= 4 and progress["audio_seconds"] > 0
    assert [(o["chapter"], o["title"]) for o in job["outputs"]] == [
        (None, None),
        (0, "One"),
        (1, "Two"),
        (2, "Three"),
    ]

    whole = wav_samples(client.get(f"/v1/jobs/{job['id']}/audio").content)
    chapters = [wav_samples(client.get(o["url"]).content) for o in job["outputs"][1:]]
    pause = int(24_000 * server.settings.jobs.chapter_pause_ms / 1000)
    assert whole.size == sum(c.size for c in chapters) + 2 * pause
    assert abs(whole.size / 24_000 - job["outputs"][0]["duration_s"]) < 0.01
    np.testing.assert_array_equal(whole[: chapters[0].size - 240], chapters[0][:-240])  # up to the fade

    (delivery,) = receiver.wait_for(1)
    event = Webhook(submitted["webhook"]["secret"]).verify(delivery.body, delivery.headers)
    assert event["type"] == "job.succeeded"
    assert event["data"]["id"] == job["id"] and event["data"]["metadata"] == {"book": "1984"}

    chapters = [(c["chapter"], c["segments_done"] == c["segments_total"] > 0) for c in job["chapters"]]
    assert chapters == [(0, True), (1, True), (2, True)]
    assert sum(c["segments_total"] for c in job["chapters"]) == progress["segments_total"]
    deadline = time.monotonic() + 30  # the relay records the answer just after the receiver got it
    while (hook := client.get(f"/v1/jobs/{job['id']}").json()["webhook_delivery"])["status"] != "delivered":
        assert time.monotonic() < deadline, hook
        time.sleep(0.05)
    assert hook["event_type"] == "job.succeeded" and hook["last_status_code"] == 200
    assert hook["attempts"] == 1 and hook["delivered_at"] is not None
    listed = client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    assert next(j for j in listed if j["id"] == job["id"])["webhook_delivery"]["status"] == "delivered"


def test_an_idempotency_key_replay_returns_the_same_job_and_runs_it_once(
    client: httpx.Client, engine: FakeEngine
) -> None:
    body = {"voice": "alloy", "input": "Say this once. Only once, please.", "response_format": "pcm"}
    headers = {"Idempotency-Key": "replay-1"}
    first = client.post("/v1/jobs", json=body, headers=headers)
    calls_after_first = len(engine.records)
    second = client.post("/v1/jobs", json=body, headers=headers)
    assert second.status_code == 202 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    job = wait_for_job(client, first.json()["id"])
    assert job["status"] == "succeeded"
    assert len(engine.records) - calls_after_first <= job["progress"]["segments_total"]
    other = client.post("/v1/jobs", json=body | {"input": "Something else."}, headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["message"]


def test_cancel_stops_the_job_and_delete_removes_its_audio(
    client: httpx.Client, server: EmbeddedServer, receiver: Receiver
) -> None:
    text = "A long text to cancel. " * 40
    job_id = client.post(
        "/v1/jobs", json={"voice": "alloy", "input": text, "callback_url": receiver.url}
    ).json()["id"]
    wait_for_progress(client, job_id, 1)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 409  # still running: cancel first
    canceled = client.post(f"/v1/jobs/{job_id}/cancel").json()
    assert canceled["status"] == "canceled"
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "canceled"  # idempotent
    done_at_cancel = canceled["progress"]["segments_done"]
    assert done_at_cancel < canceled["progress"]["segments_total"]
    assert client.get(f"/v1/jobs/{job_id}/audio").status_code == 409
    events = [d for d in receiver.wait_for(2) if event_type(d.body) == "job.canceled"]
    assert len(events) == 1
    assert wait_for_job(client, job_id)["progress"]["segments_done"] <= done_at_cancel + 1
    assert list(server.blobs.list_keys(f"jobs/{job_id}/"))
    assert client.delete(f"/v1/jobs/{job_id}").json()["deleted"] is True
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert list(server.blobs.list_keys(f"jobs/{job_id}/")) == []


def event_type(body: bytes) -> str:
    return json.loads(body)["type"]


def test_a_segment_that_keeps_failing_fails_the_job_clearly(
    client: httpx.Client, server: EmbeddedServer
) -> None:
    text = "This part is fine. POISON is in this sentence. " + "More fine text follows here. " * 4
    job_id = client.post("/v1/jobs", json={"voice": "alloy", "input": text}).json()["id"]
    job = wait_for_job(client, job_id)
    attempts = server.settings.jobs.max_segment_attempts
    assert job["status"] == "failed"
    assert job["error"]["code"] == "segment_failed"
    assert f"after {attempts} attempts" in job["error"]["message"]
    assert "the engine fell over" in job["error"]["message"]


def test_listing_pages_and_filters_by_status(client: httpx.Client) -> None:
    ids = [
        client.post("/v1/jobs", json={"voice": "alloy", "input": f"Job {n}."}).json()["id"] for n in range(3)
    ]
    for job_id in ids:
        wait_for_job(client, job_id)
    page = client.get("/v1/jobs", params={"limit": 2}).json()
    assert len(page["data"]) == 2 and page["has_more"]
    assert [j["id"] for j in page["data"]] == ids[::-1][:2]  # newest first
    rest = client.get("/v1/jobs", params={"limit": 2, "after": page["next_cursor"]}).json()
    assert rest["data"][0]["id"] == ids[0]
    failed = client.get("/v1/jobs", params={"status": "failed", "limit": 100}).json()["data"]
    assert all(j["status"] == "failed" for j in failed)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"voice": "alloy"}, None, "invalid_request"),
        ({"voice": "alloy", "input": "a", "chapters": [{"text": "b"}]}, None, "invalid_request"),
        ({"voice": "alloy", "input": "word " * 1200}, "input", "input_too_long"),
        ({"voice": "alloy", "input": "  "}, "input", "empty_input"),
        (
            {"voice": "alloy", "input": "Hi.", "callback_url": "http://169.254.169.254/x"},
            "callback_url",
            "unsafe_callback_url",
        ),
        ({"voice": "nobody", "input": "Hi."}, "voice", "voice_not_found"),
    ],
)
def test_bad_requests_get_clear_errors(
    client: httpx.Client, body: dict, param: str | None, code: str
) -> None:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and (param is None or error["param"] == param)


def test_unknown_jobs_are_404(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/jobs/job_nope"),
        ("POST", "/v1/jobs/job_nope/cancel"),
        ("GET", "/v1/jobs/job_nope/audio"),
    ]:
        assert client.request(method, path).status_code == 404


def test_unfinished_jobs_resume_after_a_restart_without_redoing_segments(tmp_path: Path) -> None:
    slow = FakeEngine("custom_voice", delay_s=0.02)
    text = " ".join(f"Sentence number {n} resumes after a restart." for n in range(12))
    with (
        embedded_server(tmp_path, {MODEL: slow}) as first,
        httpx.Client(base_url=first.url, timeout=30) as client,
    ):
        job_id = client.post(
            "/v1/jobs", json={"voice": "alloy", "input": text, "response_format": "pcm"}
        ).json()["id"]
        before = wait_for_progress(client, job_id, 2)
    assert before["status"] == "running"
    with (
        embedded_server(tmp_path, {MODEL: slow}) as second,
        httpx.Client(base_url=second.url, timeout=30) as client,
    ):
        job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded"
    synthesized = [r.request.text for r in slow.records]
    assert len(synthesized) == len(set(synthesized)) == job["progress"]["segments_total"]
