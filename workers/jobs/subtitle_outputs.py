"""The subtitle outputs of a job that asked for ``"timestamps": "word"``: per chapter and for the whole book,
SRT, WebVTT and a JSON of words.

Why offsets are computed, not measured: the finalize joins the parts with exact sample counts (the seam
joiner keeps every sample and inserts ``pause`` seconds of silence between two parts), so a segment's words,
timed from the segment's start by the aligner in its worker, land at the chapter's room-tone head plus the
earlier segments and their pauses; a chapter's in the book at its start (earlier chapters and the chapter
pause). Every time is then divided by ``speed`` (the tempo filter scales the whole timeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.jobs.blob_keys import chapter_key, whole_key
from common.subtitles import SUBTITLE_FORMATS, Word, shifted, words_from_json
from voice_store.blobs.port import BlobStore
from workers.jobs.alignment import words_key


@dataclass(frozen=True, slots=True)
class TimedPart:
    """One segment as the finalize joins it: its audio blob (its words are beside it) and its length."""

    key: str
    seconds: float


def chapter_words(
    blobs: BlobStore, parts: Sequence[TimedPart], *, head_s: float, pause_s: float
) -> list[Word]:
    """A chapter's words in seconds from the chapter's start (unscaled)."""
    words: list[Word] = []
    offset = head_s
    for part in parts:
        words += shifted(words_from_json(blobs.get(words_key(part.key))), offset)
        offset += part.seconds + pause_s
    return words


def write_subtitles(
    blobs: BlobStore,
    job_id: str,
    chapters: Sequence[Sequence[TimedPart]],
    *,
    titles: Sequence[str | None],
    chapter_starts: Sequence[float],
    head_s: float,
    pause_s: float,
    speed: float,
) -> list[dict[str, Any]]:
    """Store the subtitle files; their output entries (``kind: subtitles``), the book's first."""
    per_chapter = [chapter_words(blobs, parts, head_s=head_s, pause_s=pause_s) for parts in chapters]
    book = [
        w for start, words in zip(chapter_starts, per_chapter, strict=True) for w in shifted(words, start)
    ]
    outputs = _store(blobs, job_id, None, None, shifted(book, 0.0, speed=speed))
    for number, words in enumerate(per_chapter):
        outputs += _store(blobs, job_id, number, titles[number], shifted(words, 0.0, speed=speed))
    return outputs


def _store(
    blobs: BlobStore, job_id: str, chapter: int | None, title: str | None, words: list[Word]
) -> list[dict]:
    outputs = []
    for fmt, (content_type, render) in SUBTITLE_FORMATS.items():
        key = whole_key(job_id, fmt) if chapter is None else chapter_key(job_id, chapter, fmt)
        blobs.put(key, render(words).encode(), content_type=content_type)
        outputs.append(
            {
                "chapter": chapter,
                "title": title,
                "blob_key": key,
                "format": fmt,
                "kind": "subtitles",
                "duration_s": None,
            }
        )
    return outputs
