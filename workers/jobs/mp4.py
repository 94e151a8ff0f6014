"""AAC in an MP4 container: ``m4b`` audiobooks with chapter marks, ``m4a`` for single chapters.

MP4 needs a seekable output (the index is written at the end, then moved to the front with ``+faststart``),
so ffmpeg writes a file rather than a pipe; PCM is fed on stdin block by block. Chapter marks come from an
FFMETADATA file (``[CHAPTER]`` sections in milliseconds) mapped with ``-map_chapters``.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.audio import float_to_s16le
from common.contracts import SAMPLE_RATE
from common.encoder import atempo_chain
from common.errors import EncodingFailed

MP4_CONTENT_TYPE = "audio/mp4"
AAC_BITRATE = "64k"  # speech: transparent at 24 kHz mono
_METADATA_SPECIAL = re.compile(r"([=;#\\\n])")


@dataclass(frozen=True, slots=True)
class ChapterMark:
    title: str
    start_s: float
    end_s: float


def ffmetadata(chapters: Sequence[ChapterMark]) -> str:
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        title = _METADATA_SPECIAL.sub(r"\\\1", chapter.title)
        start, end = round(chapter.start_s * 1000), round(chapter.end_s * 1000)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}", f"title={title}"]
    return "\n".join(lines) + "\n"


def encode_mp4(
    audio: Iterable[np.ndarray],
    path: Path,
    *,
    speed: float = 1.0,
    chapters: Sequence[ChapterMark] = (),
    ffmpeg: str = "ffmpeg",
) -> None:
    """Encode float audio at 24 kHz to ``path`` (AAC/MP4), with ``chapters`` as chapter marks."""
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    cmd += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0"]
    metadata = path.with_suffix(".ffmetadata")
    if chapters:
        metadata.write_text(ffmetadata(chapters), encoding="utf-8")
        cmd += ["-i", str(metadata), "-map", "0:a", "-map_chapters", "1"]
    if not math.isclose(speed, 1.0):
        cmd += ["-af", ",".join(atempo_chain(speed))]
    cmd += ["-c:a", "aac", "-b:a", AAC_BITRATE, "-movflags", "+faststart", "-f", "ipod", str(path)]
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as e:
            raise EncodingFailed(f"cannot start the audio encoder ({ffmpeg}): {e}") from e
        assert process.stdin is not None
        try:
            for block in audio:
                process.stdin.write(float_to_s16le(block))
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its exit status and message say why
        except BaseException:
            process.kill()  # the audio failed: never leave ffmpeg waiting on stdin
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        if process.wait() != 0 or not path.exists():
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-500:]
            raise EncodingFailed(f"MP4 encoding failed ({process.returncode}): {message}")
