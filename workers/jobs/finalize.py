"""Finalize a job whose segments are all done: stitch, encode, store the outputs, finish the job.

Per chapter, the segments are joined with the speech seam policy (``common.seams.SeamJoiner``: faded edges and
a short pause), then mastered when the job asks (``workers.jobs.mastering``: room tone, loudness target); the
whole-job file joins the chapters the same way with a longer pause (an m4b with the book's tags and cover).
Audio streams through the encoder one segment at a time (a mastered chapter: one chapter at a time), so
memory stays bounded by a segment, not by the book. Output keys are
fixed per job, so a finalize that is run twice (a redelivered task) overwrites its own files, and
``finish_job`` succeeds once: exactly one ``job.succeeded`` event reaches the outbox. The encoder is
injected (``encode_file``); ``workers.jobs.failures.FinalizeRunner`` bounds the attempts and turns a failure
into a ``failed`` job naming its step.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from common.audio.book_tags import BookTags
from common.audio.formats import FORMATS
from common.audio.pcm import float_to_s16le, s16le_to_float
from common.audio.whole import ChapterMark, encode_file
from common.contracts import SAMPLE_RATE
from common.jobs.blob_keys import chapter_key, whole_key
from common.jobs.output_urls import output_url
from common.seams import SeamJoiner
from voice_store.blobs.port import BlobStore
from voice_store.db import session_scope
from voice_store.job_transitions import finish_job
from voice_store.jobs import get_job, list_segments
from voice_store.models.jobs import JobStatus
from workers.jobs.mastering import Mastering, book_tags, master_chapter
from workers.jobs.subtitle_outputs import TimedPart, write_subtitles

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StitchPolicy:
    segment_pause_ms: float = 120.0
    chapter_pause_ms: float = 600.0
    fade_ms: float = 10.0


def joined(parts: Iterable[Iterable[np.ndarray]], *, pause_ms: float, fade_ms: float) -> Iterator[np.ndarray]:
    """Float audio of ``parts`` (each an iterable of sample blocks) joined by the seam policy."""
    joiner = SeamJoiner(pause_ms=pause_ms, fade_ms=fade_ms)
    parts = list(parts)
    for index, part in enumerate(parts):
        lead = joiner.start_piece()
        if lead.size:
            yield lead
        for block in part:
            if (out := joiner.feed(block)).size:
                yield out
        if (tail := joiner.end_piece(is_last=index == len(parts) - 1)).size:
            yield tail


def chapter_starts(seconds: Sequence[float], chapter_pause_ms: float) -> list[float]:
    """Where each chapter starts in the book (unscaled seconds): earlier chapters and the pauses between."""
    return [sum(seconds[:n]) + chapter_pause_ms / 1000 * n for n in range(len(seconds))]


class EncodeFile(Protocol):
    """Writes one output file: s16le blocks at 24 kHz → ``path`` as ``fmt`` (``common.audio.whole``'s)."""

    def __call__(
        self,
        blocks: Iterable[bytes],
        fmt: str,
        path: Path,
        *,
        speed: float = 1.0,
        chapters: Sequence[ChapterMark] = (),
        book: BookTags | None = None,
    ) -> None: ...


ChapterSource = Callable[[], Iterator[np.ndarray]]  # a chapter's audio, read afresh by each output


class Finalizer:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        policy: StitchPolicy,
        encode_file: EncodeFile = encode_file,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._policy = policy
        self._encode_file = encode_file

    def finalize(self, job_id: str) -> bool:
        """Stitch and finish ``job_id``; False when it is not ready or already finished (nothing done)."""
        with session_scope(self._sessions) as session:
            job = get_job(session=session, job_id=job_id)
            if job.status.is_terminal:
                return False
            segments = list_segments(session=session, job_id=job_id)
            if not segments or not all(s.is_done for s in segments):
                return False
            request: dict[str, Any] = job.request
            parts = [(s.chapter, TimedPart(s.audio_blob_key or "", s.audio_seconds or 0.0)) for s in segments]
        outputs = self._write_outputs(job_id, request, parts)
        for output in outputs:  # the webhook lists them with their URL too
            output["url"] = output_url(
                job_id, output["chapter"], output.get("kind", "audio"), output["format"]
            )
        with session_scope(self._sessions, write=True) as session:
            finished = finish_job(session=session, job_id=job_id, status=JobStatus.SUCCEEDED, outputs=outputs)
        log.info("job %s finalized: %d outputs", job_id, len(outputs))
        return finished

    def _write_outputs(
        self, job_id: str, request: dict[str, Any], parts: Sequence[tuple[int, TimedPart]]
    ) -> list[dict]:
        titles: list[str | None] = request.get("chapter_titles") or [None]
        chapters = [[p for chapter, p in parts if chapter == n] for n in range(len(titles))]
        mastering = Mastering.from_request(request)
        if mastering is None:
            policy = self._policy
            # lengths follow from the segments: the seam joiner adds the pauses and keeps every sample
            seconds = [
                sum(p.seconds for p in c) + policy.segment_pause_ms / 1000 * (len(c) - 1) for c in chapters
            ]
            sources: list[ChapterSource] = [lambda c=c: self._chapter(c) for c in chapters]
            outputs = self._encode_outputs(job_id, request, titles, sources, seconds, [None] * len(chapters))
            return outputs + self._subtitles(job_id, request, titles, chapters, seconds, head_s=0.0)
        with tempfile.TemporaryDirectory(prefix="qwen3-tts-master-") as directory:
            mastered = [
                master_chapter(self._chapter(c), mastering, Path(directory) / f"{n:04d}.f32")
                for n, c in enumerate(chapters)
            ]
            sources = [m.blocks for m in mastered]
            seconds = [m.seconds for m in mastered]
            reports = [m.loudness for m in mastered]
            outputs = self._encode_outputs(job_id, request, titles, sources, seconds, reports)
        head_s = mastering.head_samples / SAMPLE_RATE
        return outputs + self._subtitles(job_id, request, titles, chapters, seconds, head_s=head_s)

    def _subtitles(
        self,
        job_id: str,
        request: dict[str, Any],
        titles: Sequence[str | None],
        chapters: Sequence[Sequence[TimedPart]],
        seconds: Sequence[float],
        *,
        head_s: float,
    ) -> list[dict[str, Any]]:
        """SRT, WebVTT and words JSON per chapter and for the book, when the job asked for timestamps."""
        if request.get("timestamps") != "word":
            return []
        policy = self._policy
        return write_subtitles(
            self._blobs,
            job_id,
            chapters,
            titles=titles,
            chapter_starts=chapter_starts(seconds, policy.chapter_pause_ms),
            head_s=head_s,
            pause_s=policy.segment_pause_ms / 1000,
            speed=float(request.get("speed", 1.0)),
        )

    def _encode_outputs(
        self,
        job_id: str,
        request: dict[str, Any],
        titles: Sequence[str | None],
        sources: Sequence[ChapterSource],
        seconds: Sequence[float],
        loudness: Sequence[dict[str, Any] | None],
    ) -> list[dict]:
        fmt, speed = request["response_format"], float(request.get("speed", 1.0))
        policy = self._policy
        starts = chapter_starts(seconds, policy.chapter_pause_ms)
        total = (starts[-1] + seconds[-1]) / speed
        whole = whole_key(job_id, fmt)
        if fmt == "m4b":  # one audiobook file with chapter marks; chapters on their own as m4a
            marks = [
                ChapterMark(title or f"Chapter {n + 1}", start / speed, (start + length) / speed)
                for n, (title, start, length) in enumerate(zip(titles, starts, seconds, strict=True))
            ]
            self._encode_to(
                whole, self._book(sources), fmt, speed, marks, book_tags(self._blobs, job_id, request)
            )
        else:
            self._encode_to(whole, self._book(sources), fmt, speed)
        outputs: list[dict[str, Any]] = [
            {"chapter": None, "title": None, "blob_key": whole, "format": fmt, "duration_s": round(total, 3)}
        ]
        chapter_fmt = "m4a" if fmt == "m4b" else fmt
        for number, source in enumerate(sources):
            key = (
                whole
                if len(sources) == 1 and fmt == chapter_fmt
                else chapter_key(job_id, number, chapter_fmt)
            )
            if key != whole:
                self._encode_to(key, source(), chapter_fmt, speed)
            output = {"chapter": number, "title": titles[number], "blob_key": key, "format": chapter_fmt}
            output |= {"duration_s": round(seconds[number] / speed, 3)}
            outputs.append(output | ({"loudness": loudness[number]} if loudness[number] else {}))
        return outputs

    def _segment_audio(self, segment: TimedPart) -> Iterator[np.ndarray]:
        yield s16le_to_float(self._blobs.get(segment.key))

    def _chapter(self, chapter: Sequence[TimedPart]) -> Iterator[np.ndarray]:
        policy = self._policy
        parts = (self._segment_audio(s) for s in chapter)
        return joined(parts, pause_ms=policy.segment_pause_ms, fade_ms=policy.fade_ms)

    def _book(self, sources: Sequence[ChapterSource]) -> Iterator[np.ndarray]:
        policy = self._policy
        parts = (source() for source in sources)
        return joined(parts, pause_ms=policy.chapter_pause_ms, fade_ms=policy.fade_ms)

    def _encode_to(
        self,
        key: str,
        audio: Iterator[np.ndarray],
        fmt: str,
        speed: float,
        marks: Sequence[ChapterMark] = (),
        book: BookTags | None = None,
    ) -> None:
        """Encode into a temporary file (seekable: exact sizes, totals, the MP4 index), then store it."""
        pcm = (float_to_s16le(block) for block in audio)
        extra = {} if book is None else {"book": book}  # encoders without book support still fit the rest
        with tempfile.TemporaryDirectory(prefix="qwen3-tts-job-") as directory:
            path = Path(directory) / f"audio.{fmt}"
            self._encode_file(pcm, fmt, path, speed=speed, chapters=marks, **extra)
            with path.open("rb") as data:
                self._blobs.put(key, data, content_type=FORMATS[fmt].content_type)
