"""Rework of ended jobs (embedded mode, fake engine that records every synthesis): a failed job's retry runs
only its failed segment, and a regenerated chapter re-synthesizes only that chapter; the outputs are rebuilt
from the parts and a new completion webhook is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.jobs.receiver import run_receiver
from tests.service.audio_probe import chapters
from tests.service.fake_engine import FakeEngine, FakeRequest

POISON = "Poison pill here."


@dataclass
class PoisonEngine(FakeEngine):
    """Fails every synthesis of a text holding ``POISON`` while ``is_poisoned``."""

    is_poisoned: bool = True

    def stream(self, request: FakeRequest):  # type: ignore[override]
        if self.is_poisoned and POISON in request.text:
            super().stream(request)  # recorded: the test counts this call too
            raise RuntimeError("injected segment failure")
        return super().stream(request)


@pytest.fixture(scope="module")
def engine() -> PoisonEngine:
    return PoisonEngine()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: PoisonEngine) -> Iterator[EmbeddedServer]:
    with embedded_server(
        tmp_path_factory.mktemp("rework"), {"fake-CustomVoice": engine}, segment_retry_delay_s=0.01
    ) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def texts(engine: FakeEngine, since: int) -> list[str]:
    return [r.request.text for r in engine.records[since:]]


def test_retry_runs_only_the_failed_segment(client: httpx.Client, engine: PoisonEngine) -> None:
    engine.is_poisoned = True
    book = [BOOK[0], BOOK[1], {"title": "Bad", "text": f"A fine start. {POISON} A fine end."}]
    with run_receiver() as receiver:
        body = {"voice": "alloy", "chapters": book, "callback_url": receiver.url}
        job_id = client.post("/v1/jobs", json=body).raise_for_status().json()["id"]
        _retry_and_check(client, engine, job_id)
        # one completion webhook per round: job.failed, then job.succeeded after the retry
        types = [json.loads(d.body)["type"] for d in receiver.wait_for(2)]
        assert types == ["job.failed", "job.succeeded"]


def _retry_and_check(client: httpx.Client, engine: PoisonEngine, job_id: str) -> None:
    failed = wait_for_job(client, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "segment_failed", failed
    poisoned = [t for t in texts(engine, 0) if POISON in t]
    assert len(poisoned) == 3  # max_segment_attempts: the segment alone was retried, then the job failed
    done_before = failed["progress"]["segments_done"]
    assert done_before == failed["progress"]["segments_total"] - 1

    engine.is_poisoned = False
    calls = len(engine.records)
    retried = client.post(f"/v1/jobs/{job_id}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "running", retried.text
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    again = texts(engine, calls)
    assert again and all(POISON in t for t in again)  # only the failed segment reached the engine
    assert len(job["outputs"]) == 4 and job["error"] is None

    second = client.post(f"/v1/jobs/{job_id}/retry")
    assert second.status_code == 409 and second.json()["error"]["code"] == "job_not_retryable"


def test_regenerate_one_chapter_with_new_text_and_voice(client: httpx.Client, engine: PoisonEngine) -> None:
    engine.is_poisoned = False
    body = {"voice": "alloy", "chapters": BOOK, "response_format": "m4b"}
    job_id = client.post("/v1/jobs", json=body).raise_for_status().json()["id"]
    first = wait_for_job(client, job_id)
    assert first["status"] == "succeeded"
    calls = len(engine.records)
    new_text = "A whole new second chapter. Read by someone else."
    reply = client.post(f"/v1/jobs/{job_id}/chapters/1/regenerate", json={"input": new_text, "voice": "Ryan"})
    assert reply.status_code == 202, reply.text
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    again = engine.records[calls:]
    assert " ".join(r.request.text for r in again) == new_text  # chapter 1 only, nothing else
    assert {r.request.speaker for r in again} == {"Ryan"}
    durations = [o["duration_s"] for o in job["outputs"][1:]]
    assert (
        durations[0] == first["outputs"][1]["duration_s"]
        and durations[2] == first["outputs"][3]["duration_s"]
    )
    assert durations[1] != first["outputs"][2]["duration_s"]
    marks = chapters(client.get(f"/v1/jobs/{job_id}/audio").content)
    assert [m["title"] for m in marks] == ["One", "Two", "Three"]
    assert marks[2]["start_s"] == pytest.approx(durations[0] + durations[1] + 0.4, abs=0.01)


def test_rework_refusals(client: httpx.Client) -> None:
    assert client.post("/v1/jobs/nope/retry").status_code == 404
    job_id = client.post("/v1/jobs", json={"voice": "alloy", "input": "Short."}).json()["id"]
    wait_for_job(client, job_id)
    assert client.post(f"/v1/jobs/{job_id}/chapters/5/regenerate", json={}).status_code == 400
    reply = client.post(f"/v1/jobs/{job_id}/chapters/0/regenerate", json={"voice": "no-such-voice"})
    assert reply.status_code in (400, 404), reply.text
