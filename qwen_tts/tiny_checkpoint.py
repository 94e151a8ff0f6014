"""Tiny random-weight checkpoints in the released on-disk layout, written by our own classes.

For the demo server and self-contained tests: every feature works (CustomVoice speakers and dialects,
VoiceDesign, Base cloning), the audio is noise. Configs and tokenizer files come from ``tiny_spec``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from . import tiny_spec
from .codec import CodecConfig, SpeechTokenizer
from .config import ModelConfig
from .loading import official_name
from .model import TTSModel
from .speaker_encoder import SpeakerEncoder

TARGET_WAVE_STD = 0.3


@torch.no_grad()
def randomize(module: nn.Module, seed: int) -> None:
    """Deterministic weights that keep activations in a sane range (fan-in scaled, norms near 1)."""
    gen = torch.Generator().manual_seed(seed)

    def fill(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    for name, tensor in module.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point():
            continue
        leaf = name.rsplit(".", 1)[-1]
        if tensor.ndim >= 2 and "embed" not in name and "codebook" not in name:
            fill(tensor, 1.0 / math.sqrt(tensor[0].numel()))
        elif tensor.ndim >= 2:
            fill(tensor, 1.0)
        elif leaf == "weight":  # norms
            fill(tensor, 0.1, mean=1.0)
        elif leaf == "scale":  # layer scale
            tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.1 + 0.05)
        elif leaf in ("alpha", "beta"):
            fill(tensor, 0.2)
        elif leaf == "cluster_usage":
            tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
        else:
            fill(tensor, 0.02)


@torch.no_grad()
def _calibrated_codec(seed: int) -> SpeechTokenizer:
    codec = SpeechTokenizer(CodecConfig.from_dict(tiny_spec.speech_tokenizer_config())).eval()
    randomize(codec, seed)
    last_conv = [m for m in codec.decoder.modules() if isinstance(m, nn.Conv1d)][-1]
    codes = torch.randint(
        0,
        tiny_spec.CODEBOOK_SIZE,
        (1, 6, tiny_spec.NUM_CODE_GROUPS),
        generator=torch.Generator().manual_seed(seed),
    )
    captured: list[torch.Tensor] = []
    hook = last_conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    codec.decoder(codes)
    hook.remove()
    std = float(captured[0].std())  # before the decoder's clamp to [-1, 1]: one linear rescale is exact
    if math.isfinite(std) and std > 0:
        last_conv.weight.mul_(TARGET_WAVE_STD / std)
        if last_conv.bias is not None:
            last_conv.bias.mul_(TARGET_WAVE_STD / std)
    return codec


def write_tiny_checkpoint(directory: str | Path, model_type: str, size: str = "0b6", seed: int = 0) -> Path:
    """Writes config.json, generation_config.json, model.safetensors, tokenizer files, speech_tokenizer/."""
    directory = Path(directory)
    raw_config = tiny_spec.model_config(model_type, size)
    config = ModelConfig.from_dict(raw_config)
    speaker_encoder = SpeakerEncoder(config.speaker_encoder) if model_type == "base" else None
    model = TTSModel(config, speaker_encoder)
    randomize(model, seed)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {official_name(k): v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(raw_config, indent=2) + "\n", encoding="utf-8")

    codec_dir = directory / "speech_tokenizer"
    codec_dir.mkdir(exist_ok=True)
    codec = _calibrated_codec(seed + 1)
    save_file(
        {k: v.contiguous() for k, v in codec.state_dict().items()}, str(codec_dir / "model.safetensors")
    )
    codec_config = json.dumps(tiny_spec.speech_tokenizer_config(), indent=2) + "\n"
    (codec_dir / "config.json").write_text(codec_config, encoding="utf-8")
    tiny_spec.write_support_files(directory)
    return directory
