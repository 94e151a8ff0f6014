"""The speech tokenizer against the official Qwen3TTSTokenizerV2Model on the same tiny random weights.

The official model is built and saved with ``save_pretrained`` in the reference venv, so the checkpoint has
exactly the real names and layout; our ``SpeechTokenizer.from_dir`` loads that directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from qwen_tts.codec import SpeechTokenizer
from qwen_tts.codec.weights import to_our_names
from qwen_tts.errors import CheckpointError
from tests.engine.reference_venv import PARITY_TOOLS, run_reference

REPO_ROOT = Path(__file__).resolve().parents[2]

NUM_FRAMES = 90  # > the 72-frame attention window, <= 300 where the official decode is exact

# Runs in the reference venv, with the shared tiny-checkpoint init rules (qwen_tts/tiny_weights.py): random
# codebooks, non-trivial SnakeBeta / ConvNeXt / layer scale, an audible waveform.
_REFERENCE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from reference import import_official, load_tiny_spec

    official, tiny = import_official(), load_tiny_spec()
    import numpy as np, torch

    folder = sys.argv[2]
    config = official.Qwen3TTSTokenizerV2Config(**tiny.speech_tokenizer_config())
    model = official.Qwen3TTSTokenizerV2Model(config).eval()
    tiny.init_weights(model, seed=0)
    model.save_pretrained(folder)

    inputs = np.load(f"{folder}/in.npz")
    codes = torch.from_numpy(inputs["codes"])  # [1, T, 16]
    wave = torch.from_numpy(inputs["wave"])  # [N]
    with torch.inference_mode():
        decoded = model.decode(codes, return_dict=True).audio_values[0]
        encoded = model.encode(wave[None], torch.ones_like(wave[None], dtype=torch.long)).audio_codes[0]
    np.savez(f"{folder}/out.npz", decoded=decoded.numpy(), encoded=encoded.numpy())
    """
)


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], dict]:
    """(checkpoint directory, inputs, official outputs)."""
    folder = tmp_path_factory.mktemp("codec_reference")
    rng = np.random.default_rng(0)
    t = np.arange(int(24000 * 1.37)) / 24000
    inputs = {
        "codes": rng.integers(0, 64, (1, NUM_FRAMES, 16)).astype(np.int64),
        "wave": (0.4 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32),
    }
    np.savez(folder / "in.npz", **inputs)
    run_reference(_REFERENCE_SCRIPT, PARITY_TOOLS, folder, cwd=folder, timeout_s=300)
    with np.load(folder / "out.npz") as out:
        return folder, inputs, {key: out[key] for key in out.files}


def test_decode_equals_official(official):
    folder, inputs, expected = official
    tokenizer = SpeechTokenizer.from_dir(folder)
    ours = tokenizer.decode(torch.from_numpy(inputs["codes"]))[0].numpy()
    assert ours.shape == expected["decoded"].shape == (NUM_FRAMES * 1920,)
    assert np.abs(expected["decoded"]).max() > 1e-2, (
        "the official output is near silent: a vacuous comparison"
    )
    error = np.abs(ours - expected["decoded"]).max()
    relative = error / np.abs(expected["decoded"]).max()
    assert error <= 1e-4, f"max abs error {error:.3g} (relative {relative:.3g})"


def test_one_pass_forward_equals_official(official):
    folder, inputs, expected = official
    tokenizer = SpeechTokenizer.from_dir(folder)
    with torch.inference_mode():
        ours = tokenizer.decoder(torch.from_numpy(inputs["codes"]))[0].numpy()
    np.testing.assert_allclose(ours, expected["decoded"], rtol=0, atol=1e-4)


def test_encode_gives_the_official_codes(official):
    folder, inputs, expected = official
    tokenizer = SpeechTokenizer.from_dir(folder)
    codes = tokenizer.encode(torch.from_numpy(inputs["wave"])[None])[0].numpy()
    assert codes.shape == expected["encoded"].shape == (-(-inputs["wave"].size // 1920), 16)
    assert len(np.unique(expected["encoded"])) > 4, "the official codes are degenerate: a vacuous comparison"
    np.testing.assert_array_equal(codes, expected["encoded"])


def test_decoder_only_loading_skips_the_encoder(official):
    folder, inputs, expected = official
    tokenizer = SpeechTokenizer.from_dir(folder, with_encoder=False)
    assert tokenizer.encoder is None
    ours = tokenizer.decode(torch.from_numpy(inputs["codes"]))[0].numpy()
    np.testing.assert_allclose(ours, expected["decoded"], rtol=0, atol=1e-4)


def _copy_with(folder: Path, destination: Path, edit) -> Path:
    shutil.copytree(folder, destination)
    tensors = load_file(folder / "model.safetensors")
    edit(tensors)
    save_file(tensors, destination / "model.safetensors")
    return destination


def test_missing_tensor_is_named(official, tmp_path):
    folder, _, _ = official
    name = "decoder.pre_transformer.layers.1.mlp.up_proj.weight"
    broken = _copy_with(folder, tmp_path / "ckpt", lambda t: t.pop(name))
    with pytest.raises(CheckpointError, match=r"missing tensors .*layers\.1\.mlp\.up_proj\.weight"):
        SpeechTokenizer.from_dir(broken)


def test_unexpected_tensor_is_named(official, tmp_path):
    folder, _, _ = official
    broken = _copy_with(
        folder, tmp_path / "ckpt", lambda t: t.update({"decoder.extra.weight": torch.zeros(2)})
    )
    with pytest.raises(CheckpointError, match=r"unexpected tensors .*decoder\.extra\.weight"):
        SpeechTokenizer.from_dir(broken)


def test_shape_mismatch_is_named(official, tmp_path):
    folder, _, _ = official
    name = "decoder.pre_conv.conv.bias"
    broken = _copy_with(folder, tmp_path / "ckpt", lambda t: t.update({name: torch.zeros(3)}))
    with pytest.raises(CheckpointError, match=r"shape mismatch .*pre_conv\.conv\.bias \(3,\)"):
        SpeechTokenizer.from_dir(broken)


def test_bad_config_and_directory_are_clear_errors(official, tmp_path):
    folder, _, _ = official
    with pytest.raises(CheckpointError, match="not found"):
        SpeechTokenizer.from_dir(tmp_path / "nowhere")
    shutil.copytree(folder, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config["decoder_config"]["upsample_rates"] = [8, 5, 4, 2]
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="decode_upsample_rate 1920"):
        SpeechTokenizer.from_dir(tmp_path / "ckpt")


def test_bad_codes_are_rejected(official):
    folder, _, _ = official
    tokenizer = SpeechTokenizer.from_dir(folder, with_encoder=False)
    with pytest.raises(ValueError, match=r"\[B, T, 16\]"):
        tokenizer.decode(torch.zeros(1, 4, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="must lie in"):
        tokenizer.decode(torch.full((1, 4, 16), -1, dtype=torch.int64))


def test_checkpoint_names_map_onto_ours():
    """The checkpoint's (transformers-4 Mimi) encoder names and the decoder's codebook names map onto our
    modules; the tensors each side does not run are ignored, anything else is named."""
    checkpoint = {
        name: torch.zeros(1)
        for name in (
            "encoder.encoder.layers.0.conv.weight",
            "encoder.encoder_transformer.layers.0.mlp.fc1.weight",
            "encoder.downsample.conv.weight",
            "encoder.quantizer.semantic_residual_vector_quantizer.input_proj.weight",
            "encoder.quantizer.semantic_residual_vector_quantizer.layers.0.codebook.embed_sum",
            "encoder.quantizer.acoustic_residual_vector_quantizer.layers.2.codebook.cluster_usage",
            "decoder.quantizer.rvq_rest.vq.layers.3._codebook.embedding_sum",
            # not used by the side that holds them: ignored
            "decoder.quantizer.rvq_first.input_proj.weight",
            "encoder.quantizer.acoustic_residual_vector_quantizer.output_proj.weight",
            "encoder.quantizer.semantic_residual_vector_quantizer.layers.0.codebook.initialized",
        )
    }
    ours = {
        "encoder.seanet.layers.0.conv.weight",
        "encoder.transformer.layers.0.mlp.fc1.weight",
        "encoder.downsample.conv.weight",
        "encoder.quantizer.rvq_first.input_proj.weight",
        "encoder.quantizer.rvq_first.codebooks.0.embedding_sum",
        "encoder.quantizer.rvq_rest.codebooks.2.cluster_usage",
        "decoder.quantizer.rvq_rest.codebooks.3.embedding_sum",
    }
    assert set(to_our_names(checkpoint, ours)) == ours
    with pytest.raises(CheckpointError, match=r"unexpected tensors .*encoder\.encoder\.layers\.0"):
        to_our_names(checkpoint, ours - {"encoder.seanet.layers.0.conv.weight"})


def test_the_codec_encodes_and_decodes_without_transformers():
    """Our Mimi encoder and the decoder are ours: encoding and decoding import no transformers module."""
    probe = textwrap.dedent(
        """
        import sys
        import torch
        from qwen_tts.codec import CodecConfig, SpeechTokenizer
        from qwen_tts.tiny_spec import speech_tokenizer_config

        tokenizer = SpeechTokenizer(CodecConfig.from_dict(speech_tokenizer_config())).eval()
        codes = tokenizer.encode(torch.randn(1, 24000) * 0.1)
        tokenizer.decode(codes)
        print(tuple(codes.shape), sorted(m for m in sys.modules if m.split(".")[0] == "transformers"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "(1, 13, 16) []", result.stdout + result.stderr
