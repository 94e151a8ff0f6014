"""``StreamEncoder``: push PCM in, take the encoded bytes ready now; each piece is decodable on arrival.

The muxer writes to a write-only sink (nothing to seek back to), with packets flushed as they are produced:
MP3 and ADTS frames leave as the codec makes them, Ogg pages carry one 20 ms Opus packet each, FLAC frames
follow its header. A streamed wav has the 0xFFFFFFFF sizes players read to the end of (exact sizes are for
whole files, ``common.audio.whole``). What a codec holds back is its own delay: about one frame (AAC needs
2048 samples before its first packet; Opus and MP3 emit from the first 80 ms chunk).
"""

from __future__ import annotations

import threading

from common.audio.formats import RESPONSE_FORMATS, audio_format
from common.audio.pcm import wav_header
from common.audio.writer import open_writer


class _Collector:
    """A write-only sink: what the muxer wrote since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class StreamEncoder:
    """Encode a PCM stream (s16le mono 24 kHz) to ``fmt`` (one of ``RESPONSE_FORMATS``) incrementally.

    Calls may come from different threads, one at a time; a lock makes ``close`` wait for a ``write`` still
    running in a worker thread, so an abandoned stream never frees the encoder under it."""

    def __init__(self, fmt: str, *, speed: float = 1.0) -> None:
        if fmt not in RESPONSE_FORMATS:
            raise ValueError(f"{fmt!r} cannot be streamed (streamable: {', '.join(RESPONSE_FORMATS)})")
        self.format = audio_format(fmt)
        self._sink = _Collector()
        if fmt == "wav":
            self._sink.write(wav_header(None))
        self._writer = open_writer(self.format, self._sink, speed=speed, streaming=True)
        self._lock = threading.Lock()
        self._is_open = True

    def write(self, pcm: bytes) -> bytes:
        """Feed ``pcm``; return the encoded bytes available now (possibly none)."""
        with self._lock:
            self._check_open()
            self._writer.write(pcm)
            return self._sink.take()

    def finish(self) -> bytes:
        """End the stream: the codec's tail and the container's trailer."""
        with self._lock:
            self._check_open()
            self._is_open = False
            self._writer.finish()
            return self._sink.take()

    def close(self) -> None:
        """Drop an unfinished stream (the client left); a no-op after ``finish``."""
        with self._lock:
            if self._is_open:
                self._is_open = False
                self._writer.abort()

    def _check_open(self) -> None:
        if not self._is_open:
            raise RuntimeError("the stream encoder is finished or closed")
