"""Decode response bodies back in process with PyAV, to check what clients will hear (no ffmpeg binary)."""

from __future__ import annotations

import io

import av
import numpy as np

SAMPLE_RATE = 24_000


def probe(data: bytes) -> dict[str, object]:
    """The first audio stream as a player sees it: codec_name, sample_rate, channels, format_name,
    duration_s (the decoded samples' length) and num_samples (at the stream's own rate)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        num_samples = sum(frame.samples for frame in container.decode(stream))
        return {
            "codec_name": stream.codec_context.name.removesuffix("float"),  # mp3float → mp3
            "sample_rate": stream.sample_rate,
            "channels": stream.codec_context.layout.nb_channels,
            "format_name": container.format.name,
            "num_samples": num_samples,
            "duration_s": num_samples / stream.sample_rate,
        }


def decode(data: bytes, *, fmt: str | None = None) -> np.ndarray:
    """Decode a body to mono float32 at 24 kHz (what a player would render); ``pcm`` is raw s16le."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    parts: list[np.ndarray] = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(container.streams.audio[0]):
            parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def duration_s(data: bytes, *, fmt: str | None = None) -> float:
    return decode(data, fmt=fmt).size / SAMPLE_RATE


def chapters(data: bytes) -> list[dict[str, object]]:
    """The chapter marks a player lists: title, start_s and end_s of each, in order."""
    with av.open(io.BytesIO(data)) as container:
        return [
            {
                "title": mark["metadata"].get("title"),
                "start_s": float(mark["start"] * mark["time_base"]),
                "end_s": float(mark["end"] * mark["time_base"]),
            }
            for mark in container.chapters()
        ]
