"""Word timestamps in jobs, end to end on the tiny real engine and the tiny forced aligner (``--demo``'s).

Each segment is aligned in the worker that synthesized it, and the finalize places the words in every
output: per chapter (after the room tone, across the pauses between segments) and in the book (across the
chapter joins), scaled by ``speed``. The tiny aligner's timings are well-formed but not meaningful, so the
tests check the placement: monotonic, non-overlapping words inside the audio, the book equal to its chapters
shifted."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common.audio.loudness import measure
from tests.jobs.client import wait_for_job
from tests.service.audio_probe import decode
from tests.service.tiny_server import TinyServer, tiny_server

CHAPTER_PAUSE_S = 0.2
BOOK = [
    {
        "title": "One",
        "text": "The first chapter starts here. It has a second sentence too, for a second part.",
    },
    {"title": "Two", "text": "Chapter two is short. It ends now."},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyServer]:
    jobs = {"segment_chars": 64, "relay_poll_s": 0.1, "chapter_pause_ms": CHAPTER_PAUSE_S * 1000}
    with tiny_server(tmp_path_factory.mktemp("subtitles"), max_frames=8, timeout_s=180, jobs=jobs) as server:
        yield server


@pytest.fixture
def client(server: TinyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def run(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {"voice": "Vivian", "chapters": BOOK, "response_format": "wav", "timestamps": "word", "seed": 7}
    job = wait_for_job(
        client, client.post("/v1/jobs", json=body | extra).raise_for_status().json()["id"], timeout_s=180
    )
    assert job["status"] == "succeeded", job
    return job


def words(client: httpx.Client, job: dict[str, Any], chapter: int | None) -> list[dict[str, Any]]:
    output = next(
        o
        for o in job["outputs"]
        if o["kind"] == "subtitles" and o["format"] == "json" and o["chapter"] == chapter
    )
    return client.get(output["url"]).raise_for_status().json()["words"]


def check_well_formed(items: list[dict[str, Any]], start: float, end: float) -> None:
    assert items, "no words"
    for word in items:
        assert start - 1e-3 <= word["start"] <= word["end"] <= end + 1e-3, (word, start, end)
    for first, second in itertools.pairwise(items):
        assert first["end"] <= second["start"] + 1e-3, (first, second)


def test_subtitles_line_up_with_the_audio(client: httpx.Client) -> None:
    job = run(client, room_tone={"head_s": 0.5, "tail_s": 0.5})
    kinds = {(o["chapter"], o["format"]) for o in job["outputs"] if o["kind"] == "subtitles"}
    assert kinds == {(c, f) for c in (None, 0, 1) for f in ("srt", "vtt", "json")}
    audio = [o for o in job["outputs"] if o["kind"] == "audio" and o["chapter"] is not None]
    durations = [len(decode(client.get(o["url"]).content)) / 24_000 for o in audio]
    per_chapter = [words(client, job, n) for n in (0, 1)]
    for items, duration in zip(per_chapter, durations, strict=True):
        check_well_formed(items, 0.5, duration - 0.5)  # inside the speech, never in the room tone
    # words of chapter 0's second segment start after its first segment and the pause between them
    assert len({round(w["start"], 3) for w in per_chapter[0]}) > 1
    book = words(client, job, None)
    starts = [0.0, durations[0] + CHAPTER_PAUSE_S]
    expected = [w["start"] + start for start, items in zip(starts, per_chapter, strict=True) for w in items]
    assert [w["start"] for w in book] == pytest.approx(expected, abs=2e-3)
    assert [w["text"] for w in book] == [w["text"] for items in per_chapter for w in items]
    check_well_formed(book, 0.0, sum(durations) + CHAPTER_PAUSE_S)
    srt = client.get(f"/v1/jobs/{job['id']}/subtitles.srt")
    assert srt.headers["content-type"].startswith("application/x-subrip") and srt.text.startswith(
        "1\n00:00:0"
    )
    vtt = client.get(f"/v1/jobs/{job['id']}/chapters/1/subtitles.vtt").text
    assert vtt.startswith("WEBVTT\n\n") and " --> " in vtt


def test_speed_divides_every_time(client: httpx.Client) -> None:
    normal, fast = run(client), run(client, speed=2.0)
    slow_words, fast_words = words(client, normal, None), words(client, fast, None)
    assert [w["text"] for w in fast_words] == [w["text"] for w in slow_words]
    assert [w["start"] for w in fast_words] == pytest.approx([w["start"] / 2 for w in slow_words], abs=2e-3)


def test_jobs_without_timestamps_have_no_subtitles(client: httpx.Client) -> None:
    body = {"voice": "Vivian", "input": "Just audio.", "response_format": "wav"}
    job = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"], timeout_s=180)
    assert [o["kind"] for o in job["outputs"]] == ["audio", "audio"]
    reply = client.get(f"/v1/jobs/{job['id']}/subtitles.srt")
    assert reply.status_code == 404 and reply.json()["error"]["param"] == "timestamps"


def test_acx_on_the_real_engine_measures_on_target(client: httpx.Client) -> None:
    """The tiny engine's audio is loud noise: the limiter works here, unlike on the fake engine's tone. No
    room tone: in chapters of a second or two, 3 s of silence would hold the file's RMS under the target."""
    job = run(client, loudness="acx", room_tone={"head_s": 0.0, "tail_s": 0.0})
    for output in (o for o in job["outputs"] if o["kind"] == "audio" and o["chapter"] is not None):
        measured = measure(decode(client.get(output["url"]).content))
        assert measured.rms_dbfs == pytest.approx(-20.0, abs=0.5), output["loudness"]
        assert measured.sample_peak_dbfs <= -3.0 and measured.true_peak_dbtp <= -3.0, output["loudness"]


def test_a_regenerated_chapter_rebuilds_the_subtitles(client: httpx.Client) -> None:
    job = run(client)
    new_text = "Brand new words here. And more of them."
    reply = client.post(f"/v1/jobs/{job['id']}/chapters/1/regenerate", json={"input": new_text})
    assert reply.status_code == 202, reply.text
    job = wait_for_job(client, job["id"], timeout_s=180)
    assert job["status"] == "succeeded", job
    second = words(client, job, 1)
    assert [w["text"] for w in second] == ["Brand", "new", "words", "here", "And", "more", "of", "them"]
    first, book = words(client, job, 0), words(client, job, None)
    chapter_0 = next(o for o in job["outputs"] if o["kind"] == "audio" and o["chapter"] == 0)
    start = len(decode(client.get(chapter_0["url"]).content)) / 24_000 + CHAPTER_PAUSE_S
    expected = [w["start"] for w in first] + [w["start"] + start for w in second]
    assert [w["start"] for w in book] == pytest.approx(expected, abs=2e-3)
