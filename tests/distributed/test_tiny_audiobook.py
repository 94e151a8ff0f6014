"""An audiobook job in the distributed mode on the real engine: a Celery worker process with tiny
random-weight checkpoints and the tiny forced aligner synthesizes and aligns each segment, stores its
timings beside its audio in S3 (moto), and the finalize writes an m4b with tags, ACX-mastered chapters and
subtitles; the same checks as the embedded tests, across real processes."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from common.audio.loudness import measure
from tests.distributed.harness import tiny_cluster
from tests.fixtures.s3_server import MotoServer
from tests.jobs.client import wait_for_job
from tests.service.audio_probe import decode

tiny_checkpoint = pytest.importorskip("qwen_tts.tiny_checkpoint", reason="the tiny checkpoint writer")

BOOK = [
    {"title": "One", "text": "The first chapter starts here. It has a second sentence too."},
    {"title": "Two", "text": "Chapter two is short."},
]


@pytest.fixture(scope="module")
def url(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    migrated_postgres_url: str,
    moto_server: MotoServer,
) -> Iterator[str]:
    from qwen_tts.aligner.tiny_checkpoint import write_tiny_aligner

    root = Path(tmp_path_factory.mktemp("tiny-book"))
    models = {"tiny-CustomVoice": str(tiny_checkpoint.write_tiny_checkpoint(root / "cv", "custom_voice"))}
    aligner = write_tiny_aligner(root / "aligner")
    with tiny_cluster(
        redis_url=redis_url,
        database_url=migrated_postgres_url,
        s3=moto_server,
        models=models,
        hostname="tiny-book@test",
        QWEN_TTS_MAX_FRAMES_PER_PIECE="8",
        QWEN_TTS_ALIGNER_MODEL=str(aligner),
        QWEN_TTS_JOBS__SEGMENT_CHARS="64",
    ) as url:
        yield url


def test_an_audiobook_job_over_celery(url: str) -> None:
    body = {
        "voice": "Vivian",
        "chapters": BOOK,
        "response_format": "m4b",
        "timestamps": "word",
        "loudness": "acx",
        "room_tone": {"head_s": 0.0, "tail_s": 0.0},
        "book": {"title": "Tiny Book", "author": "A. Writer", "narrator": "Vivian"},
    }
    with httpx.Client(base_url=url, timeout=120, follow_redirects=True) as client:
        job = wait_for_job(
            client, client.post("/v1/jobs", json=body).raise_for_status().json()["id"], timeout_s=240
        )
        assert job["status"] == "succeeded", job
        book = client.get(f"/v1/jobs/{job['id']}/audio").content
        with av.open(io.BytesIO(book)) as container:
            assert container.metadata["title"] == "Tiny Book" and container.metadata["composer"] == "Vivian"
        for output in (o for o in job["outputs"] if o["kind"] == "audio" and o["chapter"] is not None):
            measured = measure(decode(client.get(output["url"]).content))
            assert measured.rms_dbfs == pytest.approx(-20.0, abs=0.5) and measured.sample_peak_dbfs <= -3.0
        words = client.get(f"/v1/jobs/{job['id']}/subtitles.json").json()["words"]
        texts = [w["text"] for w in words]
        assert texts == [
            "The",
            "first",
            "chapter",
            "starts",
            "here",
            "It",
            "has",
            "a",
            "second",
            "sentence",
            "too",
            "Chapter",
            "two",
            "is",
            "short",
        ]
        assert all(a["end"] <= b["start"] + 1e-3 for a, b in itertools.pairwise(words))
        assert client.get(f"/v1/jobs/{job['id']}/chapters/1/subtitles.srt").text.startswith("1\n")
