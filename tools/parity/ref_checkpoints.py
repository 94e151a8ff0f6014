"""Tiny random-weight checkpoints built and saved by the OFFICIAL classes, in the released on-disk layout.

The configs and tokenizer files come from qwen_tts/tiny_spec.py (shared with our own checkpoint writer);
the weights are initialised here so that activations stay in a sane range through every component:
unit-variance fan-in scaling for every conv/linear, random codebooks, SnakeBeta and layer-scale parameters
off their degenerate defaults, and the codec's output stage calibrated so the waveform neither vanishes
nor saturates the official clamp to [-1, 1].
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import ModuleType, SimpleNamespace

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
TARGET_WAVE_STD = 0.3


@torch.no_grad()
def sane_init(model: nn.Module, seed: int) -> None:
    """Deterministic, numerically sane random weights for every parameter and float buffer of `model`."""
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * std + mean)

    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            fan_in = module.weight[0].numel()
            normal(module.weight, 1.0 / math.sqrt(fan_in))
            if module.bias is not None:
                normal(module.bias, 0.02)
        elif isinstance(module, nn.ConvTranspose1d):
            in_ch, _, kernel = module.weight.shape
            normal(module.weight, 1.0 / math.sqrt(in_ch * kernel / module.stride[0]))
            if module.bias is not None:
                normal(module.bias, 0.02)
        elif isinstance(module, nn.Embedding):
            # small next to the attention/MLP outputs, so that context (speaker, text, language, reference)
            # steers the codes instead of the current token's embedding alone
            normal(module.weight, 0.1)
        elif isinstance(module, nn.LayerNorm):
            normal(module.weight, 0.1, mean=1.0)
            normal(module.bias, 0.02)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        leaf = name.rsplit(".", 1)[-1]
        if not tensor.is_floating_point():
            continue
        if leaf == "weight" and tensor.ndim == 1:  # RMSNorm weights (q/k norms included)
            normal(tensor, 0.1, mean=1.0)
        elif leaf in ("alpha", "beta"):  # SnakeBeta, log scale
            normal(tensor, 0.2)
        elif leaf == "scale":  # layer scale
            tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.1 + 0.05)
        elif leaf == "gamma":  # ConvNeXt residual scale
            tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.2 + 0.1)
        elif leaf == "cluster_usage":
            tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
        elif leaf in ("embedding_sum", "embed_sum"):
            usage = tensor.new_ones(tensor.shape[0])
            parent = name.rsplit(".", 1)[0]
            for other, value in list(model.named_parameters()) + list(model.named_buffers()):
                if other == f"{parent}.cluster_usage":
                    usage = value
            normal(tensor, 1.0)
            tensor.mul_(usage[:, None])
        elif leaf == "initialized":
            tensor.fill_(1.0)


@torch.no_grad()
def build_codec(official: SimpleNamespace, spec: ModuleType) -> nn.Module:
    """The 12 Hz speech tokenizer (Mimi encoder + causal decoder) with calibrated random weights."""
    config = official.Qwen3TTSTokenizerV2Config(**spec.speech_tokenizer_config())
    codec = official.Qwen3TTSTokenizerV2Model(config).eval()
    sane_init(codec, CODEC_SEED)
    codec.encoder.quantizer.semantic_residual_vector_quantizer  # noqa: B018  (fail early if Mimi changed)
    for module in codec.decoder.modules():  # keep each residual stack near unit variance
        if type(module).__name__.endswith("ResidualUnit"):
            module.conv2.conv.weight.mul_(0.3)
    gen = torch.Generator().manual_seed(CODEC_SEED + 1)
    codes = torch.randint(0, spec.CODEBOOK_SIZE, (1, spec.NUM_CODE_GROUPS, 40), generator=gen)
    final_conv = codec.decoder.decoder[-1].conv
    captured = []
    hook = final_conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    codec.decoder(codes)
    hook.remove()
    std = float(captured[0].std())  # before the official clamp to [-1, 1], so one linear rescale is exact
    if not math.isfinite(std) or std == 0.0:
        raise RuntimeError(f"tiny codec output is degenerate (std={std})")
    final_conv.weight.mul_(TARGET_WAVE_STD / std)
    final_conv.bias.mul_(TARGET_WAVE_STD / std)
    return codec


@torch.no_grad()
def build_model(
    official: SimpleNamespace, spec: ModuleType, model_type: str, size: str, seed: int
) -> nn.Module:
    config = official.Qwen3TTSConfig(**spec.model_config(model_type, size))
    model = official.Qwen3TTSForConditionalGeneration(config).eval()
    sane_init(model, seed)
    return model


@torch.no_grad()
def favour_early_eos(model: nn.Module, spec: ModuleType) -> None:
    """Make the codec head's EOS row dominate, so generation ends as soon as min_new_tokens allows.

    The talker's final hidden states share a common direction (its final RMSNorm weight, ~1 + noise, is
    applied to every position); aligning the EOS row with that weight makes EOS the top logit at every step.
    """
    head = model.talker.codec_head.weight
    eos = spec.CODEC_IDS["codec_eos_token_id"]
    head[eos] = model.talker.model.norm.weight * 4.0


def write_checkpoint(
    directory: Path, model: nn.Module, codec: nn.Module, spec: ModuleType, model_type: str, size: str
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


def build_all(official: SimpleNamespace, spec: ModuleType, out_dir: Path) -> dict[str, Path]:
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
