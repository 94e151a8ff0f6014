"""Audio front-end: mono float32 conversion, resampling, and the mel spectrogram of the speaker encoder.

Everything here reproduces what the official package does to reference audio:
- resampling is libsoxr at 'HQ' quality, then a fix to ``ceil(n * to_sr / from_sr)`` samples: what
  ``librosa.resample`` (default ``res_type="soxr_hq"``) computes;
- the mel spectrogram uses a Slaney-scale, Slaney-normalised mel filterbank (librosa's default, computed here
  without librosa), a Hann-windowed STFT over reflect-padded frames, magnitude ``sqrt(re² + im² + 1e-9)`` and
  natural-log compression clipped at 1e-5.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import soxr
import torch
import torch.nn.functional as F

__all__ = ["mel_filterbank", "mel_spectrogram", "resample", "to_mono_float32"]

_SOXR_QUALITY = "HQ"  # librosa's default res_type "soxr_hq"


def to_mono_float32(samples: np.ndarray) -> np.ndarray:
    """Return ``samples`` as a 1-D float32 array.

    Multi-channel input is laid out ``[frames, channels]`` (soundfile's layout) and averaged over channels, as
    the official loader does. Integer PCM is scaled to [-1, 1). ``ValueError`` on empty or non-finite input.
    """
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D [samples] or 2-D [samples, channels], got shape {array.shape}")
    if np.issubdtype(array.dtype, np.unsignedinteger):  # offset binary (8-bit WAV): silence at mid-scale
        half = float(np.iinfo(array.dtype).max // 2 + 1)
        array = (array.astype(np.float64) - half) / half
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float64) / float(np.iinfo(array.dtype).max + 1)
    elif not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"audio must hold integer or floating-point samples, got dtype {array.dtype}")
    if array.ndim == 2:
        array = array.mean(axis=-1)
    if array.size == 0:
        raise ValueError("audio is empty")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError("audio contains NaN or infinite samples")
    return array


def resample(samples: np.ndarray, from_sr: int, to_sr: int) -> np.ndarray:
    """Resample 1-D float audio from ``from_sr`` to ``to_sr`` Hz as ``librosa.resample`` does by default.

    Returns the input unchanged when the rates are equal; otherwise a new array of the input's float dtype
    with ``ceil(len(samples) * to_sr / from_sr)`` samples (zero-padded or trimmed, as librosa's ``fix=True``).
    """
    if from_sr <= 0 or to_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {from_sr} -> {to_sr}")
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"resample expects 1-D audio, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"resample expects floating-point audio, got dtype {array.dtype}")
    if from_sr == to_sr:
        return array
    num_out = math.ceil(array.shape[0] * (float(to_sr) / from_sr))
    resampled = soxr.resample(array, from_sr, to_sr, quality=_SOXR_QUALITY)
    if resampled.shape[0] < num_out:
        resampled = np.pad(resampled, (0, num_out - resampled.shape[0]))
    return np.asarray(resampled[:num_out], dtype=array.dtype)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's auditory mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, log_step = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    mel = hz / f_sp
    above = hz >= min_log_hz
    mel = np.where(above, min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / log_step, mel)
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, log_step = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    hz = f_sp * mel
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(log_step * (mel - min_log_mel)), hz)


@functools.lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int, n_fft: int, num_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``[num_mels, n_fft // 2 + 1]`` (float32), as librosa has them.

    The triangles are evaluated in float64 and stored as float32 before the Slaney area normalisation, in the
    same order as librosa, so the result equals ``librosa.filters.mel(norm="slaney", htk=False)`` bit for bit.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), num_mels + 2))
    widths = np.diff(mel_edges)
    ramps = np.subtract.outer(mel_edges, fft_freqs)
    rising = -ramps[:num_mels] / widths[:num_mels, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (mel_edges[2:] - mel_edges[:num_mels]))[:, None]
    weights.setflags(write=False)
    return weights


def mel_spectrogram(
    samples: torch.Tensor,
    *,
    sample_rate: int = 24000,
    n_fft: int = 1024,
    num_mels: int = 128,
    hop_size: int = 256,
    win_size: int = 1024,
    fmin: float = 0.0,
    fmax: float | None = 12000.0,
) -> torch.Tensor:
    """Log-mel spectrogram ``[B, num_mels, frames]`` of ``samples`` ``[B, N]`` (or ``[N]``), float32.

    Defaults are the speaker encoder's front-end. The signal is reflect-padded by ``(n_fft - hop_size) // 2``
    on each side and framed without centring, giving ``(N + 2 * pad - n_fft) // hop_size + 1`` frames.
    """
    if samples.ndim == 1:
        samples = samples.unsqueeze(0)
    if samples.ndim != 2:
        raise ValueError(f"mel_spectrogram expects [B, N] or [N] samples, got shape {tuple(samples.shape)}")
    samples = samples.to(torch.float32)
    padding = (n_fft - hop_size) // 2
    if samples.shape[-1] <= padding:
        raise ValueError(
            f"audio too short for the mel front-end: {samples.shape[-1]} samples, need > {padding}"
        )
    padded = F.pad(samples.unsqueeze(1), (padding, padding), mode="reflect").squeeze(1)  # [B, N + 2 * pad]
    window = torch.hann_window(win_size, device=samples.device)
    spec = torch.stft(
        padded,
        n_fft,
        hop_length=hop_size,
        win_length=win_size,
        window=window,
        center=False,
        return_complex=True,
    )  # [B, n_fft // 2 + 1, frames]
    magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
    basis = mel_filterbank(sample_rate, n_fft, num_mels, float(fmin), fmax)
    basis = torch.tensor(basis, device=samples.device)  # [num_mels, n_fft // 2 + 1]
    mel = torch.matmul(basis, magnitude)  # [B, num_mels, frames]
    return torch.log(torch.clamp(mel, min=1e-5))


def whisper_log_mel(
    samples: torch.Tensor,
    *,
    sample_rate: int = 16000,
    n_fft: int = 400,
    hop_size: int = 160,
    num_mels: int = 128,
    fmax: float = 8000.0,
) -> torch.Tensor:
    """Whisper's log-mel features ``[num_mels, N // hop_size]`` of mono ``samples`` ``[N]``, float32.

    The forced aligner's front end (a ``WhisperFeatureExtractor`` in the released checkpoint): a centred
    (reflect-padded) power spectrogram whose last frame is dropped, the same Slaney filters as
    ``mel_spectrogram``, log10 floored 8 decades below the peak, then scaled as ``(x + 4) / 4``.
    """
    if samples.ndim != 1:
        raise ValueError(f"whisper_log_mel expects [N] samples, got shape {tuple(samples.shape)}")
    if samples.shape[0] < hop_size:
        raise ValueError(f"audio too short for the log-mel front end: {samples.shape[0]} samples")
    samples = samples.to(torch.float32)
    window = torch.hann_window(n_fft, device=samples.device)
    spec = torch.stft(samples, n_fft, hop_size, window=window, return_complex=True)  # [F, frames + 1]
    power = spec[..., :-1].abs() ** 2  # [n_fft // 2 + 1, frames]
    basis = torch.tensor(mel_filterbank(sample_rate, n_fft, num_mels, 0.0, fmax), device=samples.device)
    log_mel = torch.clamp(basis @ power, min=1e-10).log10()  # [num_mels, frames]
    log_mel = torch.maximum(log_mel, log_mel.max() - 8.0)
    return (log_mel + 4.0) / 4.0
