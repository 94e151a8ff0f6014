"""The audio front-end against librosa and the official mel front-end (run in the reference virtualenv)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from qwen_tts.audio import mel_filterbank, mel_spectrogram, resample, to_mono_float32
from tests.engine.reference_venv import PARITY_TOOLS, run_reference

RATES = (16000, 22050, 44100, 48000, 8000)

_REFERENCE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from reference import import_official

    mel_spectrogram = import_official().mel_spectrogram
    import numpy as np, librosa, torch

    inputs = np.load(sys.argv[1])
    out = {"filterbank": librosa.filters.mel(sr=24000, n_fft=1024, n_mels=128, fmin=0, fmax=12000)}
    for key in inputs.files:
        if key.startswith("at_"):
            rate = int(key[3:])
            out[f"resampled_{rate}"] = librosa.resample(y=inputs[key], orig_sr=rate, target_sr=24000)
    out["mel"] = mel_spectrogram(
        torch.from_numpy(inputs["wave_24k"]).unsqueeze(0), n_fft=1024, num_mels=128, sampling_rate=24000,
        hop_size=256, win_size=1024, fmin=0, fmax=12000,
    ).numpy()
    np.savez(sys.argv[2], **out)
    """
)


def _waves() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    waves = {}
    for rate in RATES:
        n = int(rate * 0.73) + 7  # odd lengths exercise the length fix
        t = np.arange(n) / rate
        tone = 0.4 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 3100.0 * t)
        waves[f"at_{rate}"] = (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)
    waves["wave_24k"] = (0.3 * rng.standard_normal(24000 + 123)).clip(-1, 1).astype(np.float32)
    return waves


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("audio_reference")
    waves = _waves()
    np.savez(folder / "in.npz", **waves)
    run_reference(
        _REFERENCE_SCRIPT, folder / "in.npz", folder / "out.npz", PARITY_TOOLS, cwd=folder, timeout_s=240
    )
    with np.load(folder / "out.npz") as out:
        return waves, {key: out[key] for key in out.files}


def test_filterbank_equals_librosa_bit_for_bit(reference):
    _, expected = reference
    np.testing.assert_array_equal(mel_filterbank(24000, 1024, 128, 0.0, 12000.0), expected["filterbank"])


@pytest.mark.parametrize("rate", RATES)
def test_resample_equals_librosa_default(reference, rate):
    waves, expected = reference
    ours = resample(waves[f"at_{rate}"], rate, 24000)
    assert ours.dtype == np.float32
    assert ours.shape == expected[f"resampled_{rate}"].shape
    np.testing.assert_allclose(ours, expected[f"resampled_{rate}"], rtol=0, atol=1e-6)


def test_mel_equals_official_front_end(reference):
    waves, expected = reference
    ours = mel_spectrogram(torch.from_numpy(waves["wave_24k"]))
    assert ours.shape == expected["mel"].shape
    np.testing.assert_allclose(ours.numpy(), expected["mel"], rtol=0, atol=1e-4)


def test_mel_frame_count_and_batch_independence():
    rng = np.random.default_rng(1)
    batch = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, 5000)).astype(np.float32))
    mel = mel_spectrogram(batch)
    assert mel.shape == (2, 128, (5000 + 2 * 384 - 1024) // 256 + 1)
    torch.testing.assert_close(mel[1:], mel_spectrogram(batch[1]), rtol=0, atol=1e-5)


def test_resample_same_rate_returns_input_and_rejects_bad_rates():
    wave = np.zeros(10, dtype=np.float32)
    assert resample(wave, 24000, 24000) is wave
    with pytest.raises(ValueError, match="positive"):
        resample(wave, 0, 24000)
    with pytest.raises(ValueError, match="floating-point"):
        resample(np.zeros(10, dtype=np.int16), 16000, 24000)


def test_to_mono_float32_scales_integers_and_averages_channels():
    stereo = np.array([[16384, -16384], [32767, 32767]], dtype=np.int16)
    np.testing.assert_allclose(to_mono_float32(stereo), [0.0, 32767 / 32768], atol=1e-7)
    assert to_mono_float32(np.ones(3, dtype=np.float64)).dtype == np.float32
    np.testing.assert_allclose(to_mono_float32(np.array([0, 128, 255], dtype=np.uint8)), [-1, 0, 127 / 128])


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
        (np.zeros((2, 2, 2), dtype=np.float32), "shape"),
        (np.array(["a"]), "dtype"),
    ],
)
def test_to_mono_float32_rejects_bad_audio(audio, message):
    with pytest.raises(ValueError, match=message):
        to_mono_float32(audio)


def test_mel_rejects_audio_shorter_than_its_padding():
    with pytest.raises(ValueError, match="too short"):
        mel_spectrogram(torch.zeros(100))
