"""Reference audio -> codes with transformers' ``MimiModel`` (its encoder half and quantizer).

The checkpoint's encoder is a Mimi model with its decoder half removed. transformers < 5 builds Mimi as one
flat module whose decoder parts are dropped by setting them to ``None`` (as the official package does);
transformers >= 5 splits Mimi into halves, and a config whose ``decoder_config`` is ``None`` builds only the
encoder half (``weights.py`` maps the checkpoint's flat names onto it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def build_mimi_encoder(raw_config: dict[str, Any]) -> nn.Module:
    """A ``MimiModel`` without its decoder half, with random weights (the caller loads the checkpoint's)."""
    from transformers import MimiConfig, MimiModel

    config = MimiConfig(**raw_config)
    if isinstance(getattr(type(config), "decoder_config", None), property):  # transformers >= 5: halves
        config.decoder_config = None
        return MimiModel(config)
    model = MimiModel(config)
    model.upsample = model.decoder_transformer = model.decoder = None
    return model


@torch.inference_mode()
def encode_with_mimi(
    mimi: nn.Module, samples: torch.Tensor, num_quantizers: int, samples_per_frame: int
) -> torch.Tensor:
    """samples [B, N] at the codec rate -> codes [B, ceil(N / samples_per_frame), num_quantizers] (int64)."""
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise ValueError(f"encode expects samples [B, N] with N > 0, got shape {tuple(samples.shape)}")
    weight = next(mimi.parameters())
    values = samples.to(device=weight.device, dtype=weight.dtype).unsqueeze(1)  # [B, 1, N]
    codes = mimi.encode(values, num_quantizers=num_quantizers, return_dict=True).audio_codes  # [B, Q, frames]
    num_frames = math.ceil(samples.shape[1] / samples_per_frame)
    return codes[:, :num_quantizers, :num_frames].transpose(1, 2).to(torch.int64)
