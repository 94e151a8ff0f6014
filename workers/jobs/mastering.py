"""Chapter mastering for jobs: room tone at head and tail, then a loudness target (``common.audio.loudness``);
and the book's m4b tags and cover.

Why per chapter: distribution specs (ACX) judge each chapter file on its own, and each chapter file must
meet them; the book joins the mastered chapters. A mastered chapter is written once to a local float32 file
and read back in blocks by every output that uses it (the chapter file and the book), so its segments are
read from the blob store once and memory holds one chapter at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.audio.book_tags import BookTags, read_cover
from common.audio.loudness import LoudnessTarget, loudness_target, normalize
from common.contracts import SAMPLE_RATE
from common.jobs.blob_keys import cover_key
from voice_store.blobs.port import BlobStore

ACX_ROOM_TONE_S = (0.75, 2.5)  # ACX: 0.5–1 s at the head, 1–5 s at the tail
BLOCK_SAMPLES = SAMPLE_RATE * 10


@dataclass(frozen=True, slots=True)
class Mastering:
    target: LoudnessTarget | None
    head_s: float
    tail_s: float

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Mastering | None:
        """The job's ``loudness`` and ``room_tone``; None when it asked for neither (audio as synthesized)."""
        loudness, room_tone = request.get("loudness"), request.get("room_tone")
        if loudness is None and room_tone is None:
            return None
        head, tail = ACX_ROOM_TONE_S if loudness == "acx" else (0.0, 0.0)
        if room_tone is not None:
            head, tail = room_tone.get("head_s", head), room_tone.get("tail_s", tail)
        target = None if loudness is None else loudness_target(loudness)
        return cls(target=target, head_s=float(head), tail_s=float(tail))

    @property
    def head_samples(self) -> int:
        """The room tone at a chapter's head, in whole samples (where the chapter's speech starts)."""
        return round(self.head_s * SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class MasteredChapter:
    path: Path
    num_samples: int
    loudness: dict[str, Any] | None  # {target, before, after}: what the job reports per chapter

    @property
    def seconds(self) -> float:
        return self.num_samples / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        audio = np.memmap(self.path, dtype=np.float32, mode="r") if self.num_samples else np.zeros(0)
        for start in range(0, self.num_samples, BLOCK_SAMPLES):
            yield np.array(audio[start : start + BLOCK_SAMPLES])


def master_chapter(audio: Iterable[np.ndarray], mastering: Mastering, path: Path) -> MasteredChapter:
    """Room tone around the chapter's joined audio, the loudness target applied, written to ``path``."""
    head = np.zeros(mastering.head_samples, dtype=np.float32)
    tail = np.zeros(round(mastering.tail_s * SAMPLE_RATE), dtype=np.float32)
    samples = np.concatenate([head, *(np.asarray(b, dtype=np.float32) for b in audio), tail])
    report = None
    if mastering.target is not None:
        samples, before, after = normalize(samples, mastering.target)
        report = {
            "target": mastering.target.as_dict(),
            "before": before.as_dict(),
            "after": after.as_dict(),
        }
    samples.astype(np.float32).tofile(path)
    return MasteredChapter(path=path, num_samples=samples.size, loudness=report)


def book_tags(blobs: BlobStore, job_id: str, request: dict[str, Any]) -> BookTags | None:
    """The m4b's tags and cover (the cover stored when the job was created, under the job's prefix)."""
    book = request.get("book")
    if not book:
        return None
    cover = read_cover(blobs.get(cover_key(job_id, book["cover"]))) if book.get("cover") else None
    return BookTags(
        title=book.get("title"), author=book.get("author"), narrator=book.get("narrator"), cover=cover
    )
