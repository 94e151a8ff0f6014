"""Encoding 24 kHz s16le PCM into the requested response format, incrementally.

``encode_stream`` consumes an async iterator of PCM chunks and yields encoded bytes as soon as the encoder
produces them. pcm and wav at speed 1.0 are produced directly; every other case runs one ffmpeg process per
request, fed on stdin by a task while its stdout is read, so neither side can block the other.

Speed: ffmpeg's ``atempo`` filter (a WSOLA time-stretch: tempo changes, pitch does not). One atempo stage
accepts 0.5–100 on the ffmpeg we target, so factors below 0.5 are chained (0.25 = 0.5 × 0.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
from collections.abc import AsyncIterator

from common.audio import FORMATS, wav_header
from common.contracts import SAMPLE_RATE
from common.errors import EncodingFailed

log = logging.getLogger(__name__)

MIN_SPEED = 0.25
MAX_SPEED = 4.0
_READ_SIZE = 16_384

# Codec + muxer per format; small ogg pages and packet flushing keep streaming latency low.
_CODEC_ARGS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k", "-f", "mp3"],
    "opus": [
        "-c:a",
        "libopus",
        "-b:a",
        "48k",
        "-application",
        "voip",
        "-page_duration",
        "20000",
        "-f",
        "ogg",
    ],
    "aac": ["-c:a", "aac", "-b:a", "96k", "-f", "adts"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "pcm": ["-c:a", "pcm_s16le", "-f", "s16le"],
    "wav": [
        "-c:a",
        "pcm_s16le",
        "-f",
        "s16le",
    ],  # header written by us, so streaming and exact sizes both work
}


def atempo_chain(speed: float) -> list[str]:
    """atempo stages whose product is ``speed`` (each within 0.5–2.0, which every ffmpeg accepts)."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be within {MIN_SPEED}–{MAX_SPEED}, got {speed}")
    stages: list[float] = []
    remaining = speed
    while remaining > 2.0 + 1e-9 or remaining < 0.5 - 1e-9:
        step = 2.0 if remaining > 2.0 else 0.5
        stages.append(step)
        remaining /= step
    if not math.isclose(remaining, 1.0) or not stages:
        stages.append(remaining)
    return [f"atempo={s:.6g}" for s in stages]


def ffmpeg_command(fmt: str, speed: float, *, ffmpeg: str = "ffmpeg") -> list[str]:
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"]
    # raw input of known layout: no probing (ffmpeg would otherwise hold the first seconds to analyse them)
    cmd += ["-probesize", "32", "-analyzeduration", "0", "-fflags", "+nobuffer"]
    cmd += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0"]
    if not math.isclose(speed, 1.0):
        cmd += ["-af", ",".join(atempo_chain(speed))]
    cmd += ["-ar", str(SAMPLE_RATE), "-ac", "1"] if fmt != "opus" else ["-ac", "1"]
    cmd += [*_CODEC_ARGS[fmt], "-flush_packets", "1", "pipe:1"]
    return cmd


def needs_ffmpeg(fmt: str, speed: float) -> bool:
    return FORMATS[fmt].needs_encoder or not math.isclose(speed, 1.0)


async def _feed(proc: asyncio.subprocess.Process, pcm: AsyncIterator[bytes]) -> None:
    assert proc.stdin is not None
    try:
        async for chunk in pcm:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()


class Encoders:
    """Starts ffmpeg processes; keeps one idle process per ``warm`` format (at speed 1.0) started ahead, so a
    request does not wait for ffmpeg's start-up (about 0.25 s on a busy 2-core machine). The idle processes
    belong to the event loop that ran ``start``; ``close`` kills them."""

    def __init__(self, ffmpeg: str = "ffmpeg", *, warm: tuple[str, ...] = ()) -> None:
        self._ffmpeg = ffmpeg
        self._warm_formats = warm
        self._warm: dict[str, asyncio.Task[asyncio.subprocess.Process]] = {}

    @property
    def is_available(self) -> bool:
        """Whether the ffmpeg executable can be found (mp3, the default format, needs it)."""
        return shutil.which(self._ffmpeg) is not None

    async def start(self) -> None:
        if not self.is_available:
            log.error("ffmpeg (%s) was not found: only pcm and wav at speed 1.0 can be served", self._ffmpeg)
            return
        for fmt in self._warm_formats:
            self._warm[fmt] = asyncio.create_task(self._spawn(fmt, 1.0))

    async def close(self) -> None:
        warm, self._warm = self._warm, {}
        for task in warm.values():
            with contextlib.suppress(Exception):
                proc = await task
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    async def process(self, fmt: str, speed: float) -> asyncio.subprocess.Process:
        task = self._warm.pop(fmt, None) if math.isclose(speed, 1.0) else None
        if task is not None:
            self._warm[fmt] = asyncio.create_task(self._spawn(fmt, 1.0))
            with contextlib.suppress(EncodingFailed):
                proc = await task
                if proc.returncode is None:
                    return proc
        return await self._spawn(fmt, speed)

    async def _spawn(self, fmt: str, speed: float) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *ffmpeg_command(fmt, speed, ffmpeg=self._ffmpeg),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise EncodingFailed(f"cannot start the audio encoder ({self._ffmpeg}): {e}") from e


async def _ffmpeg_stream(
    pcm: AsyncIterator[bytes], fmt: str, proc: asyncio.subprocess.Process
) -> AsyncIterator[bytes]:
    feeder = asyncio.create_task(_feed(proc, pcm))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        while data := await proc.stdout.read(_READ_SIZE):
            yield data
        await feeder  # re-raises a failure of the upstream PCM stream (e.g. a synthesis error)
        stderr = (await proc.stderr.read()).decode(errors="replace").strip()
        if await proc.wait() != 0:
            raise EncodingFailed(f"audio encoder failed for {fmt}: {stderr[-500:]}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if not feeder.done():
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder


async def encode_stream(
    pcm: AsyncIterator[bytes],
    fmt: str,
    *,
    speed: float = 1.0,
    encoders: Encoders | None = None,
    process: asyncio.subprocess.Process | None = None,
) -> AsyncIterator[bytes]:
    """Encode streaming PCM to ``fmt`` (a key of ``FORMATS``); wav gets a streaming header.

    ``process``: an encoder already started for (fmt, speed) by ``Encoders.process`` (it is consumed)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if fmt == "wav":
        yield wav_header(None)
    if needs_ffmpeg(fmt, speed):
        proc = process or await (encoders or Encoders()).process(fmt, speed)
        source = _ffmpeg_stream(pcm, fmt, proc)
    else:
        source = pcm
    async for data in source:
        if data:
            yield data


async def encode_whole(
    pcm: AsyncIterator[bytes],
    fmt: str,
    *,
    speed: float = 1.0,
    encoders: Encoders | None = None,
    process: asyncio.subprocess.Process | None = None,
) -> bytes:
    """Encode all of ``pcm`` into one body; a wav gets its exact sizes (its ffmpeg command is pcm's)."""
    options = {"speed": speed, "encoders": encoders, "process": process}
    if fmt == "wav":
        raw = b"".join([c async for c in encode_stream(pcm, "pcm", **options)])  # type: ignore[arg-type]
        return wav_header(len(raw)) + raw
    return b"".join([c async for c in encode_stream(pcm, fmt, **options)])  # type: ignore[arg-type]


async def discard(process: asyncio.subprocess.Process | None) -> None:
    """Stop an encoder that will not be used (the request failed before its body started)."""
    if process is not None and process.returncode is None:
        process.kill()
        await process.wait()
