"""The speaker encoder against the official ECAPA-TDNN, run in the reference venv on the same weights."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from qwen_tts.config import SpeakerEncoderConfig
from qwen_tts.speaker_encoder import SpeakerEncoder
from tests.engine.reference_venv import PARITY_TOOLS, run_reference

TINY = {
    "mel_dim": 128,
    "enc_dim": 24,
    "enc_channels": [32, 32, 32, 64],
    "enc_kernel_sizes": [5, 3, 3, 1],
    "enc_dilations": [1, 2, 3, 1],
    "enc_attention_channels": 16,
    "enc_res2net_scale": 4,
    "enc_se_channels": 8,
    "sample_rate": 24000,
}

# Runs in the reference venv: builds the official encoder with random weights, saves them, embeds two waves.
_REFERENCE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from reference import import_official

    official = import_official()
    import numpy as np, torch
    from safetensors.torch import save_file
    from qwen_tts.core.models.configuration_qwen3_tts import Qwen3TTSSpeakerEncoderConfig
    from qwen_tts.core.models.modeling_qwen3_tts import Qwen3TTSSpeakerEncoder

    folder = sys.argv[2]
    torch.manual_seed(0)
    encoder = Qwen3TTSSpeakerEncoder(Qwen3TTSSpeakerEncoderConfig(**json.load(open(f"{folder}/config.json"))))
    save_file(encoder.state_dict(), f"{folder}/weights.safetensors")
    waves = np.load(f"{folder}/in.npz")
    out = {}
    with torch.inference_mode():
        for key in waves.files:
            mels = official.mel_spectrogram(
                torch.from_numpy(waves[key]).unsqueeze(0), n_fft=1024, num_mels=128, sampling_rate=24000,
                hop_size=256, win_size=1024, fmin=0, fmax=12000,
            ).transpose(1, 2)
            out[key] = encoder(mels)[0].numpy()  # what extract_speaker_embedding returns
    np.savez(f"{folder}/out.npz", **out)
    """
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], dict]:
    folder = tmp_path_factory.mktemp("speaker_reference")
    (folder / "config.json").write_text(json.dumps(TINY))
    rng = np.random.default_rng(0)
    t = np.arange(36000) / 24000
    waves = {
        "noise": (0.2 * rng.standard_normal(30000)).clip(-1, 1).astype(np.float32),
        "chirp": (0.5 * np.sin(2 * np.pi * (200 + 900 * t) * t)).astype(np.float32),
    }
    np.savez(folder / "in.npz", **waves)
    run_reference(_REFERENCE_SCRIPT, PARITY_TOOLS, folder, cwd=folder, timeout_s=240)
    with np.load(folder / "out.npz") as out:
        return folder, waves, {key: out[key] for key in out.files}


def _tiny_encoder(weights: Path | None = None) -> SpeakerEncoder:
    encoder = SpeakerEncoder(SpeakerEncoderConfig.from_dict(TINY)).eval()
    if weights is not None:
        encoder.load_state_dict(load_file(weights), strict=True)
    return encoder


def test_state_dict_names_match_the_official_checkpoint(reference):
    folder, _, _ = reference
    official = load_file(folder / "weights.safetensors")
    ours = _tiny_encoder().state_dict()
    assert sorted(ours) == sorted(official)
    assert all(ours[name].shape == official[name].shape for name in ours)


def test_embedding_equals_official(reference):
    folder, waves, expected = reference
    encoder = _tiny_encoder(folder / "weights.safetensors")
    for key, wave in waves.items():
        ours = encoder.embed(wave)
        assert ours.shape == (TINY["enc_dim"],)
        np.testing.assert_allclose(ours.numpy(), expected[key], rtol=0, atol=1e-4)
        assert np.abs(expected[key]).max() > 1e-3  # the comparison is not between zeros


def test_batched_embedding_equals_single():
    encoder = _tiny_encoder()
    waves = torch.from_numpy(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 12000)).astype(np.float32))
    torch.testing.assert_close(encoder.embed(waves)[1], encoder.embed(waves[1]), rtol=0, atol=1e-5)


def test_too_short_audio_is_a_clear_error():
    with pytest.raises(ValueError, match="too short"):
        _tiny_encoder().embed(np.zeros(200, dtype=np.float32))


def test_inconsistent_channel_layout_is_rejected():
    with pytest.raises(ValueError, match="sum of the SE-Res2Net widths"):
        SpeakerEncoder(SpeakerEncoderConfig.from_dict({**TINY, "enc_channels": [32, 32, 32, 32]}))
