"""PCM helpers: s16le ↔ float, sample counts, and the WAV header (numpy only; no torch)."""

from __future__ import annotations

import struct

import numpy as np

from common.contracts import SAMPLE_RATE

BYTES_PER_SAMPLE = 2  # s16le mono
STREAMING_SIZE = 0xFFFFFFFF  # RIFF/data size for a WAV whose length is not known yet (players read to EOF)


def wav_header(num_data_bytes: int | None, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 44-byte PCM s16le mono WAV header; ``None`` writes the streaming sizes (0xFFFFFFFF)."""
    data_size = STREAMING_SIZE if num_data_bytes is None else num_data_bytes
    riff_size = STREAMING_SIZE if num_data_bytes is None else 36 + num_data_bytes
    byte_rate = sample_rate * BYTES_PER_SAMPLE
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, BYTES_PER_SAMPLE, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


def float_to_s16le(samples: np.ndarray) -> bytes:
    """Clip float samples in [-1, 1] to little-endian int16 bytes."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.rint(scaled).astype("<i2").tobytes()


def s16le_to_float(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0


def num_samples(pcm: bytes) -> int:
    return len(pcm) // BYTES_PER_SAMPLE
