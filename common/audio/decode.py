"""Decoding an untrusted upload in process (PyAV): its sniffed container only, its first audio stream only.

The demuxer is the one the magic bytes named (``av.open(..., format=...)``), so nothing is probed from a
name or content type, and the bytes come from memory: there is no file name or URL for a demuxer to
follow, and ``protocol_whitelist`` is empty so a container cannot open anything else either. Decoding stops
just past the duration cap, a container whose header already says it is too long is refused before any
decoding, and a wall-clock budget is checked between packets. Samples are resampled to mono 24 kHz float32.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import av
import numpy as np

from common.contracts import SAMPLE_RATE

CAP_MARGIN_S = 0.5  # decode this far past the cap, so "too long" is told apart from "exactly the cap"


@dataclass(frozen=True, slots=True)
class UploadFormat:
    name: str  # what we call it
    demuxer: str  # FFmpeg's demuxer, forced
    content_type: str
    extension: str
    declares_duration: bool  # the header's duration is exact (not a bitrate estimate)


class UndecodableAudio(Exception):
    """The bytes are not audio this demuxer and its decoders can read; the message says why."""


class TooLong(Exception):
    """The audio lasts longer than the cap (``seconds``: what the container says, or the cap reached)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"{seconds:.1f} s")
        self.seconds = seconds


class DecodeTimeout(Exception):
    """Decoding took longer than its budget."""


def decode_audio(data: bytes, fmt: UploadFormat, *, max_seconds: float, timeout_s: float) -> np.ndarray:
    """Mono 24 kHz float32 samples of ``data``'s first audio stream, at most ``max_seconds`` + a margin."""
    deadline = time.monotonic() + timeout_s
    max_samples = round((max_seconds + CAP_MARGIN_S) * SAMPLE_RATE)
    try:
        with av.open(
            io.BytesIO(data), "r", format=fmt.demuxer, options={"protocol_whitelist": ""}
        ) as container:
            if not container.streams.audio:
                raise UndecodableAudio("there is no audio stream")
            stream = container.streams.audio[0]
            declared = container.duration / av.time_base if container.duration else None
            if fmt.declares_duration and declared is not None and declared > max_seconds + CAP_MARGIN_S:
                raise TooLong(declared)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            parts: list[np.ndarray] = []
            total = 0
            for packet in container.demux(stream):
                if time.monotonic() > deadline:
                    raise DecodeTimeout
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        parts.append(out.to_ndarray().reshape(-1))
                        total += out.samples
                if total > max_samples:
                    break
            else:
                parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except av.FFmpegError as e:
        raise UndecodableAudio(str(e)) from e
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if not samples.size:
        raise UndecodableAudio("it holds no audio samples")
    return samples[:max_samples]
