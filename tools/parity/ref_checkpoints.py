"""Tiny random-weight checkpoints built and saved by the OFFICIAL classes, in the released on-disk layout.

The configs, the tokenizer files and the weight-initialisation rules come from qwen_tts/tiny_spec.py,
shared with our own checkpoint writer (qwen_tts/tiny_checkpoint.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

# name -> (tts_model_type, tts_model_size, seed)
CHECKPOINTS = {
    "customvoice_0b6": ("custom_voice", "0b6", 1),
    "customvoice_1b7": ("custom_voice", "1b7", 2),
    "voicedesign_1b7": ("voice_design", "1b7", 3),
    "base_0b6": ("base", "0b6", 4),
    "customvoice_0b6_early_eos": ("custom_voice", "0b6", 1),  # customvoice_0b6 with an EOS-favouring head
}
CODEC_SEED = 7


@torch.no_grad()
def build_codec(official: SimpleNamespace, spec: SimpleNamespace) -> nn.Module:
    """The 12 Hz speech tokenizer (Mimi encoder + causal decoder) with calibrated random weights."""
    config = official.Qwen3TTSTokenizerV2Config(**spec.speech_tokenizer_config())
    codec = official.Qwen3TTSTokenizerV2Model(config).eval()
    spec.init_weights(codec, CODEC_SEED)
    codec.encoder.quantizer.semantic_residual_vector_quantizer  # noqa: B018  (fail early if Mimi changed)
    gen = torch.Generator().manual_seed(CODEC_SEED + 1)
    codes = torch.randint(0, spec.CODEBOOK_SIZE, (1, spec.NUM_CODE_GROUPS, 40), generator=gen)
    spec.calibrate_output_gain(codec.decoder.decoder[-1].conv, lambda: codec.decoder(codes))
    return codec


@torch.no_grad()
def build_model(
    official: SimpleNamespace, spec: SimpleNamespace, model_type: str, size: str, seed: int
) -> nn.Module:
    config = official.Qwen3TTSConfig(**spec.model_config(model_type, size))
    model = official.Qwen3TTSForConditionalGeneration(config).eval()
    spec.init_weights(model, seed)
    return model


@torch.no_grad()
def favour_early_eos(model: nn.Module, spec: SimpleNamespace) -> None:
    """Make the codec head's EOS row dominate, so generation ends as soon as min_new_tokens allows.

    The talker's final hidden states share a common direction (its final RMSNorm weight, ~1 + noise, is
    applied to every position); aligning the EOS row with that weight makes EOS the top logit at every step.
    """
    head = model.talker.codec_head.weight
    eos = spec.CODEC_IDS["codec_eos_token_id"]
    head[eos] = model.talker.model.norm.weight * 4.0


def write_checkpoint(
    directory: Path, model: nn.Module, codec: nn.Module, spec: SimpleNamespace, model_type: str, size: str
) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    model.save_pretrained(directory, safe_serialization=True)
    codec.save_pretrained(directory / "speech_tokenizer", safe_serialization=True)
    # save_pretrained serialises every PretrainedConfig default (and breaks on the official speaker-encoder
    # config, which does not round-trip); the released config.json files are the concise dicts of the spec.
    _write_json(directory / "config.json", spec.model_config(model_type, size))
    _write_json(directory / "speech_tokenizer" / "config.json", spec.speech_tokenizer_config())
    spec.write_support_files(directory)


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_all(official: SimpleNamespace, spec: SimpleNamespace, out_dir: Path) -> dict[str, Path]:
    """Build every tiny checkpoint under out_dir/checkpoints/<name>; returns name -> directory."""
    codec = build_codec(official, spec)
    paths = {}
    for name, (model_type, size, seed) in CHECKPOINTS.items():
        model = build_model(official, spec, model_type, size, seed)
        if name.endswith("_early_eos"):
            favour_early_eos(model, spec)
        directory = out_dir / "checkpoints" / name
        write_checkpoint(directory, model, codec, spec, model_type, size)
        paths[name] = directory
    return paths
