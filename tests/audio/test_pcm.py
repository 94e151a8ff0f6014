"""PCM helpers: the WAV header fields and the s16le ↔ float conversions."""

from __future__ import annotations

import struct

import numpy as np

from common.audio.pcm import float_to_s16le, num_samples, s16le_to_float, wav_header


def test_wav_header_fields() -> None:
    header = wav_header(48_000)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    riff, fmt_size, pcm, channels, rate, byte_rate, align, bits = struct.unpack("<I4x4xIHHIIHH", header[4:36])
    assert (riff, fmt_size, pcm, channels, rate, byte_rate, align, bits) == (
        48_036,
        16,
        1,
        1,
        24_000,
        48_000,
        2,
        16,
    )
    assert struct.unpack("<I", header[40:44])[0] == 48_000
    assert wav_header(None)[4:8] == b"\xff\xff\xff\xff"


def test_s16le_round_trip_clips_and_counts() -> None:
    samples = np.array([0.0, 0.5, -0.5, 1.5, -1.5], np.float32)
    data = float_to_s16le(samples)
    assert num_samples(data) == 5
    np.testing.assert_allclose(s16le_to_float(data), np.clip(samples, -1, 1), atol=1 / 32767)
