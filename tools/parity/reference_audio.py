"""A deterministic, speech-like reference signal, defined in continuous time so that every sample rate
sees the same sound (which is what makes the resampling path comparable)."""

from __future__ import annotations

import numpy as np

DURATION_S = 1.6


def reference_audio(sample_rate: int, duration_s: float = DURATION_S) -> np.ndarray:
    """Voiced harmonics on a gliding pitch under a syllable-rate envelope, plus a little deterministic noise;
    float32 mono in [-0.6, 0.6]."""
    t = np.arange(round(duration_s * sample_rate), dtype=np.float64) / sample_rate
    f0 = 140.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 3.0 * t)) * np.minimum(1.0, t / 0.05)
    noise = 0.02 * np.sin(2 * np.pi * 3100.0 * t) * np.sin(2 * np.pi * 5.3 * t)
    signal = 0.25 * envelope * voiced + noise
    return (0.6 * signal / np.max(np.abs(signal))).astype(np.float32)
