"""Loudness targets: BS.1770 measurement, the true-peak limiter, and normalize reaching ACX / EBU R128."""

from __future__ import annotations

import numpy as np
import pytest

from common.audio.loudness import ACX, EBU_R128, limit, loudness_target, measure, normalize

SR = 24_000


def speechlike(seconds: float = 6.0, *, seed: int = 0) -> np.ndarray:
    """A tone with a syllable-rate envelope, some noise and sharp transients (a peaky signal to limit)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    audio = 0.15 * envelope * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(t.size)
    for start in range(SR // 2, t.size - 200, SR):
        audio[start : start + 50] += 0.8  # clicks well above the ceiling
    return np.concatenate([np.zeros(SR // 2), audio, np.zeros(SR)]).astype(np.float32)


def test_limiter_keeps_true_peaks_under_the_ceiling() -> None:
    audio = speechlike()
    assert measure(audio).true_peak_dbtp > -1.0
    limited = limit(audio, -3.0)
    assert measure(limited).true_peak_dbtp <= -3.0 + 0.05
    quiet = np.abs(audio) < 0.05  # far from any click: the limiter leaves the body of the signal alone
    assert np.allclose(limited[quiet][: SR // 4], audio[quiet][: SR // 4], atol=1e-6)


def test_acx_reaches_rms_minus_20_with_peaks_under_minus_3() -> None:
    out, before, after = normalize(speechlike(), ACX)
    assert before.sample_peak_dbfs > -1.0
    assert after.rms_dbfs == pytest.approx(-20.0, abs=0.15)
    assert after.true_peak_dbtp <= -3.5 + 0.01
    assert after.sample_peak_dbfs <= -3.5
    assert out.dtype == np.float32 and out.size == speechlike().size


@pytest.mark.parametrize(
    ("target", "lufs", "peak"), [(EBU_R128, -23.0, -1.0), (loudness_target(-16.0), -16.0, -1.0)]
)
def test_lufs_targets(target, lufs: float, peak: float) -> None:
    _, _, after = normalize(speechlike(seed=1), target)
    assert after.integrated_lufs == pytest.approx(lufs, abs=0.15)
    assert after.true_peak_dbtp <= peak + 0.01


def test_silence_and_short_audio_stay_as_they_are() -> None:
    silent, _, after = normalize(np.zeros(SR, np.float32), ACX)
    assert not silent.any() and after.integrated_lufs is None
    short = (0.1 * np.ones(SR // 10)).astype(np.float32)
    assert measure(short).integrated_lufs is None  # under one 400 ms gating block


def test_targets_by_name_and_object() -> None:
    assert loudness_target("acx") is ACX and loudness_target("ebu-r128") is EBU_R128
    custom = loudness_target({"lufs": -18.0, "true_peak_dbtp": -2.0})
    assert (custom.integrated_lufs, custom.true_peak_dbtp) == (-18.0, -2.0)
    with pytest.raises(ValueError, match="unknown loudness"):
        loudness_target("loud")
