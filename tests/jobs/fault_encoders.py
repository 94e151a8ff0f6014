"""Encoders for the jobs' ``encode`` seam that fail on purpose, usable in-process and by name in a worker
process (``python -m tests.distributed.fake_worker --encoder NAME``).

- ``broken``          raises after reading the first block, like a codec bug (a deterministic failure).
- ``stall-once:PATH`` the first finalize to find no file at PATH writes its process id there and stalls (a
                      worker about to be killed mid-finalize); every later one encodes normally.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from common.audio.whole import ChapterMark, encode_file
from workers.jobs.finalize import EncodeFile

STALL_S = 3600.0


class EncoderFellOver(RuntimeError):
    pass


def broken_encoder(
    blocks: Iterable[bytes], fmt: str, path: Path, *, speed: float = 1.0, chapters: Sequence[ChapterMark] = ()
) -> None:
    next(iter(blocks))  # reads the first segment's audio back, then falls over
    raise EncoderFellOver(f"the {fmt} encoder fell over")


def stall_once(marker: Path) -> EncodeFile:
    def encode(
        blocks: Iterable[bytes],
        fmt: str,
        path: Path,
        *,
        speed: float = 1.0,
        chapters: Sequence[ChapterMark] = (),
    ) -> None:
        try:
            with marker.open("x") as out:  # only one process ever creates it
                out.write(str(os.getpid()))
        except FileExistsError:
            encode_file(blocks, fmt, path, speed=speed, chapters=chapters)
            return
        time.sleep(STALL_S)

    return encode


def encoder_named(name: str) -> EncodeFile | None:
    """``default`` (None: the real encoder), ``broken`` or ``stall-once:PATH``."""
    if name == "default":
        return None
    if name == "broken":
        return broken_encoder
    kind, _, argument = name.partition(":")
    if kind == "stall-once" and argument:
        return stall_once(Path(argument))
    raise ValueError(f"unknown encoder {name!r}")
