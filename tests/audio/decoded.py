"""What a player decodes from our bytes (PyAV), and the spectrum's peak, for the encoder tests."""

from __future__ import annotations

import io

import av
import numpy as np

from tests.service.audio_probe import chapters, decode, probe

__all__ = ["chapters", "decode", "decodes_alone", "dominant_hz", "ogg_end", "ogg_pages", "probe"]


def dominant_hz(samples: np.ndarray, rate: int = 24_000) -> float:
    x = np.asarray(samples, np.float64)[2400:-2400]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size)


def _pages(data: bytes) -> tuple[list[tuple[int, int]], int]:
    pages, at = [], 0
    while data[at : at + 4] == b"OggS" and at + 27 <= len(data):
        header_type, granule = data[at + 5], int.from_bytes(data[at + 6 : at + 14], "little")
        pages.append((header_type, granule))
        at += 27 + data[at + 26] + sum(data[at + 27 : at + 27 + data[at + 26]])
    return pages, at


def ogg_pages(data: bytes) -> list[tuple[int, int]]:
    """(header type, granule position) of each Ogg page, in order (read back to back from the start)."""
    return _pages(data)[0]


def ogg_end(data: bytes) -> int:
    """Where the last whole page read back to back ends (``len(data)`` when the data is whole pages)."""
    return _pages(data)[1]


def decodes_alone(data: bytes, fmt: str) -> int:
    """Samples a player decodes from ``data`` on its own (a prefix of a stream); 0 when none."""
    try:
        with av.open(io.BytesIO(data), format={"opus": "ogg", "aac": "aac"}.get(fmt, fmt)) as container:
            return sum(frame.samples for frame in container.decode(container.streams.audio[0]))
    except av.FFmpegError:
        return 0
