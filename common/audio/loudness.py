"""Loudness targets for finished audio: measure (ITU-R BS.1770), gain, and a true-peak limiter.

Why: distribution specs judge a file by numbers. ACX (Audible) wants RMS −23…−18 dBFS with peaks ≤ −3 dBFS;
EBU R128 wants −23 LUFS integrated with true peaks ≤ −1 dBTP. ``normalize`` reaches such a target in two
passes over the audio: measure, then gain + limit, re-measured (the limiter takes a little level away, so the
gain is corrected and the pass repeated, at most a few times).

- Integrated loudness: pyloudnorm's BS.1770-4 meter (K-weighting, 400 ms blocks, absolute and relative gates).
- True peak: the peak of the signal oversampled 4× with a polyphase filter (BS.1770 Annex 2's method).
- Limiter: a look-ahead brick wall on that oversampled peak. The gain each sample needs is held over a window
  that reaches ``lookahead`` ahead and ``hold`` behind, then smoothed by a moving average of the look-ahead
  length; every averaged value is at most the gain its own sample needs, so no true peak passes the ceiling
  (up to the small modulation the gain itself adds, which a safety margin and the re-measure cover).

The audio is a float32 array of one chapter (bounded by the chapter, not by the book).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from common.contracts import SAMPLE_RATE

OVERSAMPLE = 4
LOOKAHEAD_S = 0.005
HOLD_S = 0.010  # short: dense, loud material still reaches an RMS target under the ceiling
PEAK_MARGIN_DB = 0.2  # the limiter aims this far under the ceiling
MAX_PASSES = 6
TOLERANCE_DB = 0.1
SILENT_DB = -120.0


@dataclass(frozen=True, slots=True)
class LoudnessTarget:
    """What to reach: integrated LUFS or (ACX) RMS dBFS, with a true-peak ceiling in dBTP."""

    name: str  # "acx", "ebu-r128" or "lufs"
    true_peak_dbtp: float
    integrated_lufs: float | None = None
    rms_dbfs: float | None = None

    def __post_init__(self) -> None:
        assert (self.integrated_lufs is None) != (self.rms_dbfs is None), "one of LUFS or RMS"

    def as_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


ACX = LoudnessTarget("acx", true_peak_dbtp=-3.5, rms_dbfs=-20.0)
EBU_R128 = LoudnessTarget("ebu-r128", true_peak_dbtp=-1.0, integrated_lufs=-23.0)


def loudness_target(value: str | float | dict[str, float]) -> LoudnessTarget:
    """``"acx"``, ``"ebu-r128"``, a LUFS number, or ``{"lufs": L, "true_peak_dbtp": P}``; ValueError else."""
    if value == "acx":
        return ACX
    if value == "ebu-r128":
        return EBU_R128
    if isinstance(value, dict):
        return LoudnessTarget(
            "lufs", true_peak_dbtp=float(value.get("true_peak_dbtp", -1.0)), integrated_lufs=value["lufs"]
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return LoudnessTarget("lufs", true_peak_dbtp=-1.0, integrated_lufs=float(value))
    raise ValueError(f"unknown loudness target {value!r}")


@dataclass(frozen=True, slots=True)
class LoudnessReport:
    integrated_lufs: float | None  # None: too short or too quiet to gate (under 400 ms, or silence)
    true_peak_dbtp: float
    sample_peak_dbfs: float
    rms_dbfs: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: None if v is None else round(v, 2) for k, v in asdict(self).items()}


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else SILENT_DB


def oversampled_peaks(samples: np.ndarray) -> np.ndarray:
    """|x| per sample, the max over the 4 oversampled points at and after it (true peak per sample)."""
    up = np.abs(resample_poly(samples.astype(np.float64), OVERSAMPLE, 1))
    per_sample = up[: samples.size * OVERSAMPLE].reshape(-1, OVERSAMPLE).max(axis=1)
    return np.maximum(per_sample, np.abs(samples))


def measure(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> LoudnessReport:
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        return LoudnessReport(None, SILENT_DB, SILENT_DB, SILENT_DB)
    lufs: float | None = None
    if samples.size >= int(0.4 * sample_rate):
        value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(samples.astype(np.float64)))
        lufs = value if math.isfinite(value) else None
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return LoudnessReport(
        integrated_lufs=lufs,
        true_peak_dbtp=_db(float(oversampled_peaks(samples).max())),
        sample_peak_dbfs=_db(float(np.abs(samples).max())),
        rms_dbfs=_db(rms),
    )


def limit(samples: np.ndarray, ceiling_dbtp: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Look-ahead true-peak limiter: ``samples`` with no oversampled peak above ``ceiling_dbtp``."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        return samples
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    peaks = oversampled_peaks(samples)
    if peaks.max() <= ceiling:
        return samples
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    ahead = max(1, int(LOOKAHEAD_S * sample_rate))
    hold = int(HOLD_S * sample_rate)
    size = ahead + hold
    # held[k] = min(needed[k - hold .. k + ahead - 1]); gain[n] = mean(held[n - ahead + 1 .. n]): each held
    # value in that mean covers sample n, so gain[n] <= needed[n] (scipy's origin shifts a window left)
    held = minimum_filter1d(needed, size=size, origin=hold - size // 2, mode="nearest")
    gain = uniform_filter1d(held, size=ahead, origin=ahead - 1 - ahead // 2, mode="nearest")
    return (samples * np.minimum(gain, needed)).astype(np.float32)


def _level(report: LoudnessReport, target: LoudnessTarget) -> float | None:
    return report.rms_dbfs if target.rms_dbfs is not None else report.integrated_lufs


def normalize(
    samples: np.ndarray, target: LoudnessTarget, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, LoudnessReport, LoudnessReport]:
    """``samples`` at ``target`` (level and ceiling); returns (audio, before, after).

    Audio too quiet or short to measure is only limited (there is no level to aim from)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    before = measure(samples, sample_rate)
    aim = target.rms_dbfs if target.rms_dbfs is not None else target.integrated_lufs
    assert aim is not None
    level = _level(before, target)
    if level is None or level <= SILENT_DB:
        out = limit(samples, target.true_peak_dbtp - PEAK_MARGIN_DB, sample_rate)
        return out, before, measure(out, sample_rate)
    gain_db, ceiling = aim - level, target.true_peak_dbtp - PEAK_MARGIN_DB
    out, after = samples, before
    for _ in range(MAX_PASSES):
        out = limit(samples * np.float32(10.0 ** (gain_db / 20.0)), ceiling, sample_rate)
        after = measure(out, sample_rate)
        reached = _level(after, target)
        if after.true_peak_dbtp > target.true_peak_dbtp:
            ceiling -= after.true_peak_dbtp - target.true_peak_dbtp + 0.05
            continue
        if reached is None or abs(reached - aim) <= TOLERANCE_DB:
            break
        gain_db += aim - reached
    return out, before, after
