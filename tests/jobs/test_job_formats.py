"""Job outputs in encoded formats: an m4b audiobook with chapter marks (chapters as m4a), and mp3 at 2× speed
(embedded mode, fake engine; decoded back in process with PyAV)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.service.audio_probe import chapters, decode, probe
from tests.service.fake_engine import FakeEngine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with embedded_server(tmp_path_factory.mktemp("formats"), {"fake-CustomVoice": FakeEngine()}) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_m4b_is_one_audiobook_with_chapter_marks(client: httpx.Client) -> None:
    job_id = client.post(
        "/v1/jobs", json={"voice": "alloy", "chapters": BOOK, "response_format": "m4b"}
    ).json()["id"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    assert [o["format"] for o in job["outputs"]] == ["m4b", "m4a", "m4a", "m4a"]
    book = client.get(f"/v1/jobs/{job_id}/audio")
    assert book.headers["content-type"] == "audio/mp4"
    marks = chapters(book.content)
    assert [m["title"] for m in marks] == [c["title"] for c in BOOK]
    expected_starts, start = [], 0.0
    for output in job["outputs"][1:]:
        expected_starts.append(start)
        start += output["duration_s"] + 0.2  # chapter_pause_ms of the test settings
    assert [m["start_s"] for m in marks] == pytest.approx(expected_starts, abs=0.01)
    assert probe(book.content)["codec_name"] == "aac"
    chapter = client.get(job["outputs"][2]["url"]).content
    assert len(decode(chapter)) / 24_000 == pytest.approx(job["outputs"][2]["duration_s"], abs=0.1)


def test_speed_applies_to_every_output(client: httpx.Client) -> None:
    body = {"voice": "alloy", "input": BOOK[1]["text"], "response_format": "mp3", "speed": 2.0}
    fast = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"])
    normal = wait_for_job(client, client.post("/v1/jobs", json=body | {"speed": 1.0}).json()["id"])
    assert fast["outputs"][0]["duration_s"] == pytest.approx(normal["outputs"][0]["duration_s"] / 2, abs=0.01)
    audio = client.get(f"/v1/jobs/{fast['id']}/audio")
    assert audio.headers["content-type"] == "audio/mpeg"
    assert len(decode(audio.content)) / 24_000 == pytest.approx(fast["outputs"][0]["duration_s"], abs=0.15)
