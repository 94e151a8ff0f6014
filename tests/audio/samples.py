"""Test audio made in process with PyAV: tones as PCM, and files in any container/codec (no ffmpeg binary)."""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np

from common.audio.pcm import float_to_s16le as s16le

__all__ = ["UPLOAD_CODECS", "encode_file", "s16le", "tone", "upload"]

SAMPLE_RATE = 24_000

# upload formats as a browser, a phone or an editor writes them: (muxer, codec)
UPLOAD_CODECS: dict[str, tuple[str, str]] = {
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
    "mp3": ("mp3", "libmp3lame"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "webm": ("webm", "libopus"),
}


def tone(
    seconds: float, *, frequency: float = 440.0, amplitude: float = 0.3, rate: int = SAMPLE_RATE
) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


class _WriteOnly:
    """A sink with no seek: what a live recorder (MediaRecorder) writes to."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: Any) -> int:
        self.data += bytes(chunk)
        return len(chunk)


def encode_file(
    samples: np.ndarray, *, muxer: str, codec: str, rate: int = SAMPLE_RATE, seekable: bool = True
) -> bytes:
    """``samples`` (float mono at ``rate``) as a file of ``muxer``/``codec``."""
    sink: Any = io.BytesIO() if seekable else _WriteOnly()
    with av.open(sink, "w", format=muxer) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        planar = samples.reshape(1, -1).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(planar, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return bytes(sink.getvalue() if seekable else sink.data)


def upload(fmt: str, seconds: float = 2.0, *, frequency: float = 330.0, amplitude: float = 0.3) -> bytes:
    """A tone at 44.1 kHz (48 kHz for Opus) in the upload format ``fmt`` (a key of ``UPLOAD_CODECS``)."""
    muxer, codec = UPLOAD_CODECS[fmt]
    rate = 48_000 if codec == "libopus" else 44_100
    samples = tone(seconds, frequency=frequency, amplitude=amplitude, rate=rate)
    return encode_file(samples, muxer=muxer, codec=codec, rate=rate, seekable=fmt != "webm")
