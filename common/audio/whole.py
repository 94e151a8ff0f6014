"""Whole files with exact headers and durations: the muxer writes to a seekable target and fixes it up.

- wav: our 44-byte header with the exact sizes.
- mp3: a Xing/Info + LAME header (frame count, encoder delay and padding: gapless players trim exactly).
- opus: Ogg Opus with the encoder's pre-skip and a final granule position that trims the padding, so the
  decoded length equals the PCM's.
- aac: ADTS frames (no container to carry the priming: decoders add up to one frame at each end).
- flac: STREAMINFO with the total sample count (and MD5) rewritten after the last frame.
- m4a / m4b: AAC in MP4 (an edit list trims the priming; the index first), with chapter marks and titles,
  and for a book its tags and cover (``common.audio.book_tags``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from common.audio.book_tags import BookTags
from common.audio.formats import audio_format
from common.audio.pcm import wav_header
from common.audio.writer import encoder_errors, open_writer

_CHAPTER_TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True, slots=True)
class ChapterMark:
    title: str
    start_s: float
    end_s: float


def chapter_entries(chapters: Sequence[ChapterMark]) -> list[dict[str, Any]]:
    """Chapters as PyAV's ``set_chapters`` takes them (milliseconds)."""
    return [
        {
            "id": number,
            "start": round(chapter.start_s * 1000),
            "end": round(chapter.end_s * 1000),
            "time_base": _CHAPTER_TIME_BASE,
            "metadata": {"title": chapter.title},
        }
        for number, chapter in enumerate(chapters, start=1)
    ]


def encode_file(
    blocks: Iterable[bytes],
    fmt: str,
    path: Path,
    *,
    speed: float = 1.0,
    chapters: Sequence[ChapterMark] = (),
    book: BookTags | None = None,
) -> None:
    """Encode PCM ``blocks`` (s16le mono 24 kHz) into the file ``path`` as ``fmt``; chapters and ``book``
    (tags, cover) for MP4 only."""
    audio = audio_format(fmt)
    if (chapters or book is not None) and not audio.is_seekable_only:
        raise ValueError(f"chapter marks and book tags need an MP4 format (m4b, m4a), not {fmt}")
    if audio.is_raw:
        with path.open("wb") as out:
            _write_raw(blocks, fmt, out, speed=speed)
        return
    writer = open_writer(audio, path, speed=speed, chapters=chapter_entries(chapters), book=book)
    _feed(writer, blocks)


def encode_bytes(
    blocks: Iterable[bytes], fmt: str, *, speed: float = 1.0, chapters: Sequence[ChapterMark] = ()
) -> bytes:
    """``encode_file`` into memory (MP4 goes through a temporary file: faststart reopens it by name)."""
    audio = audio_format(fmt)
    if audio.is_seekable_only:
        with tempfile.TemporaryDirectory(prefix="qwen3-tts-audio-") as tmp:
            path = Path(tmp) / f"audio.{fmt}"
            encode_file(blocks, fmt, path, speed=speed, chapters=chapters)
            return path.read_bytes()
    out = io.BytesIO()
    if audio.is_raw:
        _write_raw(blocks, fmt, out, speed=speed)
    else:
        _feed(open_writer(audio, out, speed=speed), blocks)
    return out.getvalue()


def _write_raw(blocks: Iterable[bytes], fmt: str, out: BinaryIO, *, speed: float) -> None:
    """pcm as it is; wav with a placeholder header that is rewritten with the real sizes at the end."""
    with encoder_errors(fmt):
        if fmt == "wav":
            out.write(wav_header(0))
        _feed(open_writer(audio_format(fmt), out, speed=speed), blocks)
        if fmt == "wav":
            size = out.seek(0, io.SEEK_END) - len(wav_header(0))
            out.seek(0)
            out.write(wav_header(size))
            out.seek(0, io.SEEK_END)


def _feed(writer: Any, blocks: Iterable[bytes]) -> None:
    try:
        for block in blocks:
            writer.write(block)
    except BaseException:
        writer.abort()  # the audio failed (or the caller's source did): leave no half-open encoder
        raise
    writer.finish()
