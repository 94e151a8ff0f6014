"""Our Mimi encoder against the official one (transformers 4.57's MimiModel) on encoder configs the released
checkpoint does not use: non-causal reflect-padded convs, replicate padding with conv shortcuts and two
residual blocks per stage; and the encoder config's defaults and refusals.

The released config (causal, zero padding) is covered by tests/parity and test_codec.py.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from qwen_tts.codec import SpeechTokenizer
from qwen_tts.codec.encoder_config import EncoderConfig
from qwen_tts.errors import CheckpointError
from qwen_tts.tiny_spec import speech_tokenizer_config
from tests.engine.reference_venv import PARITY_TOOLS, run_reference

VARIANTS = {
    "noncausal_reflect": {"use_causal_conv": False, "pad_mode": "reflect"},
    "replicate_shortcut": {"pad_mode": "replicate", "use_conv_shortcut": True, "num_residual_layers": 2},
}
LENGTHS = (480, 24000 * 3 + 77)  # one 25 Hz step (reflect on inputs shorter than the padding), 3 s

_REFERENCE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from reference import import_official, load_tiny_spec

    official, tiny = import_official(), load_tiny_spec()
    import numpy as np, torch

    folder = sys.argv[2]
    config = json.load(open(f"{folder}/config.json"))
    model = official.Qwen3TTSTokenizerV2Model(official.Qwen3TTSTokenizerV2Config(**config)).eval()
    tiny.init_weights(model, seed=5)
    model.save_pretrained(folder)
    json.dump(config, open(f"{folder}/config.json", "w"))  # the concise config, as released
    waves = np.load(f"{folder}/in.npz")
    codes = {}
    with torch.inference_mode():
        for name in waves.files:
            wave = torch.from_numpy(waves[name])[None]
            codes[name] = model.encode(wave, torch.ones_like(wave, dtype=torch.long)).audio_codes[0].numpy()
    np.savez(f"{folder}/out.npz", **codes)
    """
)


@pytest.fixture(scope="module", params=list(VARIANTS))
def official(request, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp(request.param)
    config = speech_tokenizer_config()
    config["encoder_config"].update(VARIANTS[request.param])
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(1)
    waves = {}
    for length in LENGTHS:
        t = np.arange(length) / 24000
        wave = 0.3 * np.sin(2 * np.pi * 190 * t) * (
            1 + np.sin(2 * np.pi * 3 * t)
        ) + 0.03 * rng.standard_normal(t.size)
        waves[f"n{length}"] = wave.astype(np.float32)
    np.savez(folder / "in.npz", **waves)
    run_reference(_REFERENCE_SCRIPT, PARITY_TOOLS, folder, cwd=folder, timeout_s=300)
    with np.load(folder / "out.npz") as out:
        return folder, waves, {key: out[key] for key in out.files}


def test_encoder_variants_give_the_official_codes(official):
    folder, waves, expected = official
    tokenizer = SpeechTokenizer.from_dir(folder)
    for name, wave in waves.items():
        codes = tokenizer.encode(torch.from_numpy(wave)[None])[0].numpy()
        assert codes.shape == expected[name].shape == (-(-wave.size // 1920), 16), name
        np.testing.assert_array_equal(codes, expected[name], err_msg=name)


def test_missing_encoder_keys_take_mimi_defaults():
    config = EncoderConfig.from_dict({"model_type": "mimi"})
    assert config.hidden_size == 512 and config.downsampling_ratios == (4, 5, 6, 8)
    assert config.samples_per_frame == 1920 and config.downsample_kernel == 4
    assert config.transformer.num_layers == 8 and config.transformer.head_dim == 64
    assert config.causal and config.pad_mode == "constant" and config.project_to_codebooks
    assert config.num_quantizers == 32 and config.sliding_window == 250


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"use_streaming": True}, "use_streaming"),
        ({"hidden_act": "relu"}, "hidden_act"),
        ({"audio_channels": 2}, "audio_channels"),
        ({"pad_mode": "circular"}, "pad_mode"),
        ({"codebook_dim": 8}, "codebook_dim 8"),
        ({"frame_rate": 25.0}, "frame_rate"),
        ({"num_hidden_layers": "two"}, "encoder_config"),
    ],
)
def test_encoder_configs_we_cannot_compute_are_refused(edit, message):
    raw = {**speech_tokenizer_config()["encoder_config"], **edit}
    with pytest.raises(CheckpointError, match=message):
        EncoderConfig.from_dict(raw)
