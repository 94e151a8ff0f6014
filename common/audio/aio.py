"""The async entry points: encode a PCM chunk stream without blocking the event loop.

Each chunk is encoded in a worker thread (``asyncio.to_thread``), and the encoder is opened there too; raw
PCM at speed 1 needs no thread. A whole body is collected, then encoded in one thread call. The PCM iterator
is consumed here, so its own failures (a synthesis error, a client gone) pass through unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from common.audio.formats import RESPONSE_FORMATS, audio_format
from common.audio.streaming import StreamEncoder
from common.audio.tempo import is_unit_speed
from common.audio.whole import encode_bytes


async def encode_stream(pcm: AsyncIterator[bytes], fmt: str, *, speed: float = 1.0) -> AsyncIterator[bytes]:
    """Encode streaming PCM to ``fmt`` (one of ``RESPONSE_FORMATS``), yielding bytes as they are ready."""
    in_thread = not (audio_format(fmt).is_raw and is_unit_speed(speed))
    # opening a muxer takes a few ms (mp3, flac): in the thread too
    encoder = await asyncio.to_thread(StreamEncoder, fmt, speed=speed) if in_thread else StreamEncoder(fmt)
    try:
        async for chunk in pcm:
            data = await asyncio.to_thread(encoder.write, chunk) if in_thread else encoder.write(chunk)
            if data:
                yield data
        if tail := await asyncio.to_thread(encoder.finish) if in_thread else encoder.finish():
            yield tail
    finally:
        encoder.close()


async def encode_whole(pcm: AsyncIterator[bytes], fmt: str, *, speed: float = 1.0) -> bytes:
    """Encode all of ``pcm`` into one body with exact headers (wav sizes, MP3 Info, FLAC totals)."""
    if fmt not in RESPONSE_FORMATS:
        raise ValueError(f"unknown response format {fmt!r}")
    chunks = [chunk async for chunk in pcm]
    return await asyncio.to_thread(encode_bytes, chunks, fmt, speed=speed)
