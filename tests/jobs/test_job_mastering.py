"""Audiobook mastering in jobs (embedded mode, fake engine): loudness targets per chapter with room tone, and
the m4b's tags and cover read back with PyAV."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from fractions import Fraction

import av
import httpx
import numpy as np
import pytest

from common.audio.loudness import measure
from tests.jobs.client import BOOK, wait_for_job
from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.service.audio_probe import chapters, decode
from tests.service.fake_engine import FakeEngine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with embedded_server(tmp_path_factory.mktemp("mastering"), {"fake-CustomVoice": FakeEngine()}) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def png(width: int = 16, height: int = 12) -> bytes:
    context = av.CodecContext.create("png", "w")
    context.width, context.height, context.pix_fmt = width, height, "rgb24"
    context.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="rgb24")
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def test_acx_chapters_measure_on_target_with_room_tone(client: httpx.Client) -> None:
    body = {"voice": "alloy", "chapters": BOOK[:2], "response_format": "flac", "loudness": "acx"}
    job = wait_for_job(client, client.post("/v1/jobs", json=body).raise_for_status().json()["id"])
    assert job["status"] == "succeeded", job
    for output in job["outputs"][1:]:
        audio = decode(client.get(output["url"]).content)
        measured = measure(audio)
        assert measured.rms_dbfs == pytest.approx(-20.0, abs=0.5)
        assert measured.sample_peak_dbfs <= -3.0 and measured.true_peak_dbtp <= -3.0
        report = output["loudness"]
        assert report["target"]["name"] == "acx"
        assert report["after"]["rms_dbfs"] == pytest.approx(measured.rms_dbfs, abs=0.05)
        assert report["before"]["rms_dbfs"] != report["after"]["rms_dbfs"]
        # ACX room tone: 0.75 s of silence at the head and 2.5 s at the tail
        assert not np.abs(audio[: int(0.7 * 24_000)]).max() > 1e-4
        assert not np.abs(audio[-int(2.4 * 24_000) :]).max() > 1e-4
        assert len(audio) / 24_000 == pytest.approx(output["duration_s"], abs=0.01)


def test_ebu_r128_and_explicit_room_tone(client: httpx.Client) -> None:
    body = {
        "voice": "alloy",
        "input": BOOK[0]["text"],
        "response_format": "wav",
        "loudness": {"lufs": -18.0, "true_peak_dbtp": -2.0},
        "room_tone": {"head_s": 0.5, "tail_s": 1.0},
    }
    job = wait_for_job(client, client.post("/v1/jobs", json=body).raise_for_status().json()["id"])
    audio = decode(client.get(job["outputs"][0]["url"]).content)
    measured = measure(audio)
    assert measured.integrated_lufs == pytest.approx(-18.0, abs=0.5)
    assert measured.true_peak_dbtp <= -2.0 + 0.05
    assert np.abs(audio[: 12_000 - 10]).max() < 1e-4 and np.abs(audio[-24_000 + 10 :]).max() < 1e-4


def test_m4b_tags_and_cover_read_back(client: httpx.Client) -> None:
    cover = png()
    book = {"title": "The Book", "author": "A. Writer", "narrator": "N. Reader"}
    body = {
        "voice": "alloy",
        "chapters": BOOK[:2],
        "response_format": "m4b",
        "book": book | {"cover": base64.b64encode(cover).decode()},
    }
    job = wait_for_job(client, client.post("/v1/jobs", json=body).raise_for_status().json()["id"])
    assert job["status"] == "succeeded", job
    data = client.get(f"/v1/jobs/{job['id']}/audio").content
    assert data[4:12] == b"ftypM4B " and b"covr" in data
    with av.open(io.BytesIO(data)) as container:
        tags = container.metadata
        assert (tags["title"], tags["album"], tags["artist"], tags["composer"]) == (
            "The Book",
            "The Book",
            "A. Writer",
            "N. Reader",
        )
        pictures = [s for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        assert len(pictures) == 1 and pictures[0].codec_context.name == "png"
        packet = next(p for p in container.demux(pictures[0]) if p.size)
        assert bytes(packet) == cover
    assert [m["title"] for m in chapters(data)] == ["One", "Two"]
    assert len(decode(data)) > 0


@pytest.mark.parametrize(
    ("book", "fmt", "param"),
    [
        ({"cover": base64.b64encode(b"GIF89a not a cover").decode()}, "m4b", "book.cover"),
        ({"cover": "%%% not base64"}, "m4b", "book.cover"),
        ({"title": "x"}, "mp3", None),
    ],
)
def test_bad_book_is_a_400(client: httpx.Client, book: dict, fmt: str, param: str | None) -> None:
    body = {"voice": "alloy", "input": "Hello there.", "response_format": fmt, "book": book}
    reply = client.post("/v1/jobs", json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    if param is not None:
        assert error["param"] == param and error["code"] == "invalid_cover"


def test_bad_loudness_is_a_400(client: httpx.Client) -> None:
    reply = client.post("/v1/jobs", json={"voice": "alloy", "input": "Hi.", "loudness": "loud"})
    assert reply.status_code == 400 and "loudness" in reply.text


def test_timestamps_without_an_aligner_are_a_400(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"voice": "alloy", "input": "Hi.", "timestamps": "word"})
    speech = client.post(
        "/v1/audio/speech",
        json={"voice": "alloy", "input": "Hi.", "stream_format": "sse", "timestamps": "word"},
    )
    for reply in (job, speech):
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "timestamps_unavailable"
        assert reply.json()["error"]["param"] == "timestamps"
