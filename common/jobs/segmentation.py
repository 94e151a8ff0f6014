"""Chapters → segments: each chapter's text split at sentence ends into segments of at most N characters.

A segment is the unit of work (one task, one stored audio blob); the engine later splits it again into
pieces of ``max_piece_chars``. Segments never cross a chapter boundary, so per-chapter audio is the
concatenation of that chapter's segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.text import normalize_input, split_pieces
from voice_store.jobs import SegmentSpec


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str | None
    text: str


def segment_chapters(
    chapters: Sequence[Chapter], *, max_chars: int, language: str | None = None
) -> list[SegmentSpec]:
    """Every chapter's normalised text as sentence-aware segments, in order; chapters are numbered from 0.

    ``language`` (the job's, when it has one) picks the abbreviation lists the sentence ends are found with.
    """
    segments: list[SegmentSpec] = []
    for number, chapter in enumerate(chapters):
        text = normalize_input(chapter.text)
        parts = split_pieces(text, max_chars=max_chars, language=language)
        segments.extend(SegmentSpec(text=part, chapter=number) for part in parts)
    return segments
