"""``GET /v1/jobs/{id}/events`` in the embedded mode: real HTTP (uvicorn), SQLite, the in-process queue and a
fake engine at the engine boundary. A whole stream, a reconnect with ``Last-Event-ID`` that gets exactly the
missed events, a failed job's ``job.failed``, a reconnect after the end, heartbeats, ownership and errors."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.jobs.sse import all_events, check_sequence, read_events
from tests.service.fake_engine import FakeEngine
from voice_store import api_keys
from voice_store.db import session_scope

MODEL = "fake-CustomVoice"


GATE = threading.Event()  # a piece containing GATED waits for it: a quiet spell that the test ends


class PoisonEngine(FakeEngine):
    """Fails every piece that contains POISON (a segment that can never succeed); GATED waits for GATE."""

    def stream(self, request):  # type: ignore[no-untyped-def]
        if "POISON" in request.text:
            raise RuntimeError("the engine fell over")
        if "GATED" in request.text:
            GATE.wait(timeout=60)
        return super().stream(request)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    engine = PoisonEngine("custom_voice", delay_s=0.01)
    with embedded_server(
        tmp_path_factory.mktemp("events"), {MODEL: engine}, events_poll_s=0.05, events_heartbeat_s=0.2
    ) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def submit(client: httpx.Client, headers: dict[str, str] | None = None, **body: object) -> str:
    body = {"voice": "alloy", "response_format": "wav"} | body
    response = client.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_stream_carries_progress_chapters_and_the_end(client: httpx.Client) -> None:
    job_id = submit(client, chapters=BOOK)
    comments: list[str] = []
    events = all_events(client, job_id, comments=comments)
    job = client.get(f"/v1/jobs/{job_id}").json()
    check_sequence(events, terminal="job.succeeded", chapters=len(BOOK))
    assert events[-1].data["status"] == "succeeded"
    assert events[-1].data["segments_done"] == job["progress"]["segments_total"]
    assert {o["url"] for o in events[-1].data["outputs"]} == {o["url"] for o in job["outputs"]}
    assert client.get(events[-2].data["url"]).status_code == 200  # the chapter's URL serves its audio
    assert all(c.startswith(":") for c in comments)


def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_events(client: httpx.Client) -> None:
    job_id = submit(client, input="A sentence to speak. " * 30)
    first = list(itertools.islice(read_events(client, job_id), 2))  # then the client goes away
    rest = all_events(client, job_id, last_event_id=first[-1].id)
    assert rest and rest[0].id > first[-1].id
    assert first + rest == all_events(client, job_id)  # the whole log, read again from the start
    check_sequence(first + rest, terminal="job.succeeded", chapters=1)  # input: one chapter
    assert all_events(client, job_id, last_event_id=rest[-1].id) == []  # after the end: closes at once


def test_a_failed_job_ends_with_its_failed_event(client: httpx.Client) -> None:
    job_id = submit(client, input="Fine words first. Then POISON here.")
    events = all_events(client, job_id)
    assert events[-1].type == "job.failed"
    assert events[-1].data["error"]["code"] == "segment_failed"
    assert wait_for_job(client, job_id)["status"] == "failed"


def test_a_canceled_job_ends_with_its_canceled_event(client: httpx.Client) -> None:
    job_id = submit(client, input="A sentence to speak slowly. " * 60)
    stream = read_events(client, job_id)
    first = next(stream)
    assert first.type == "job.progress"
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    rest = list(stream)
    assert rest[-1].type == "job.canceled" and rest[-1].data["status"] == "canceled"


def test_heartbeats_keep_a_quiet_stream_open_until_the_job_moves_on(client: httpx.Client) -> None:
    GATE.clear()
    job_id = submit(client, input="GATED words wait here.")
    seen: list[str] = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        for line in response.iter_lines():
            seen.append(line)
            if line == ": keep-alive":
                GATE.set()  # the stream stayed open through the quiet spell: let the job finish
    GATE.set()
    assert ": keep-alive" in seen
    assert seen.index(": keep-alive") < seen.index("event: job.progress")
    assert [line for line in seen if line.startswith("event:")][-1] == "event: job.succeeded"


def test_unknown_jobs_and_bad_event_ids_are_errors_before_the_stream(client: httpx.Client) -> None:
    missing = client.get("/v1/jobs/job_00000000000000000000000000/events")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "job_not_found"  # the envelope, not an empty stream
    job_id = submit(client, input="Short.")
    bad = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "Last-Event-ID"


def test_events_need_the_key_that_owns_the_job(tmp_path: Path) -> None:
    with embedded_server(tmp_path, {MODEL: FakeEngine("custom_voice")}, with_api_keys=True) as server:
        with session_scope(server.sessions, write=True) as session:
            _, owner = api_keys.create_api_key(session=session, name="owner")
            _, other = api_keys.create_api_key(session=session, name="other")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            headers = {"Authorization": f"Bearer {owner}"}
            job_id = submit(client, input="Mine alone.", headers=headers)
            path = f"/v1/jobs/{job_id}/events"
            assert client.get(path).status_code == 401
            foreign = client.get(path, headers={"Authorization": f"Bearer {other}"})
            assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "job_not_found"
            client.headers.update(headers)
            assert all_events(client, job_id)[-1].type == "job.succeeded"
