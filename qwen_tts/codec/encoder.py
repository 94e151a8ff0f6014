"""The codec encoder (Mimi's encoder half): 24 kHz samples [B, N] -> codes [B, ceil(N / 1920), 16].

SEANet convs (strides 4, 5, 6, 8: 960 samples per 25 Hz step) -> a causal transformer over the 25 Hz steps
-> a stride-2 conv to 12.5 Hz -> the split residual vector quantizer (nearest codebook entries). Built from
the shared pieces (``convs.PaddedConv1d``, ``layers.TransformerBlock``, ``quantizer.SplitResidualQuantizer``);
checkpoint names are mapped in ``weights.py``.

Whole references only (no streaming). Attention: the official package (transformers 4.57) builds Mimi's
encoder mask with ``create_causal_mask``, which ignores the config's ``sliding_window`` (250 steps = 10 s):
every step attends to all earlier steps of the reference. transformers 5 applies the window, so references
longer than 10 s encode differently there. We compute what the official package computes: plain causal.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..layers import RotaryEmbedding, TransformerBlock, additive_mask, attention_mask
from .convs import PaddedConv1d, SEANetResidualBlock
from .encoder_config import EncoderConfig
from .quantizer import SplitResidualQuantizer


class SEANetEncoder(nn.Module):
    """conv -> per stride: residual blocks, ELU, strided conv (channels doubled) -> ELU -> conv to hidden."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        padding = {"causal": config.causal, "pad_mode": config.pad_mode}
        channels = config.num_filters
        layers: list[nn.Module] = [PaddedConv1d(1, channels, config.kernel_size, **padding)]
        for ratio in config.downsampling_ratios:
            for j in range(config.num_residual_layers):
                layers.append(
                    SEANetResidualBlock(
                        channels,
                        config.residual_kernel_size,
                        config.dilation_growth_rate**j,
                        config.compress,
                        config.use_conv_shortcut,
                        **padding,
                    )
                )
            layers.append(nn.ELU())
            layers.append(PaddedConv1d(channels, 2 * channels, 2 * ratio, stride=ratio, **padding))
            channels *= 2
        layers.append(nn.ELU())
        layers.append(PaddedConv1d(channels, config.hidden_size, config.last_kernel_size, **padding))
        self.layers = nn.ModuleList(layers)  # indices as in the checkpoint (ELUs hold no weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, N] -> [B, hidden, ceil(N / 960)]
        for layer in self.layers:
            x = layer(x)
        return x


class EncoderTransformer(nn.Module):
    """Pre-norm blocks (LayerNorm, GELU MLP, layer scale, RoPE) with causal attention; no final norm."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        spec = config.transformer
        self.layers = nn.ModuleList(TransformerBlock(spec) for _ in range(spec.num_layers))
        self.rotary = RotaryEmbedding(spec.head_dim, spec.rope_theta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, hidden] -> [B, T, hidden]
        positions = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)  # [B, T]
        mask = additive_mask(attention_mask(positions, positions, causal=True), x.dtype)  # [B, 1, T, T]
        cos, sin = self.rotary(positions, x.dtype)  # [B, T, head_dim]
        for layer in self.layers:
            x = layer(x, cos, sin, positions, mask)
        return x


class CodecEncoder(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.seanet = SEANetEncoder(config)
        self.transformer = EncoderTransformer(config)
        self.downsample = PaddedConv1d(
            config.hidden_size,
            config.hidden_size,
            config.downsample_kernel,
            stride=2,
            bias=False,
            causal=config.causal,
            pad_mode="replicate",
        )
        self.quantizer = SplitResidualQuantizer(
            config.num_quantizers,
            config.codebook_size,
            config.codebook_dim,
            input_dim=config.hidden_size if config.project_to_codebooks else None,
        )

    def forward(self, samples: torch.Tensor, num_quantizers: int) -> torch.Tensor:
        """samples [B, N] (float, at the encoder's rate) -> codes [B, ceil(N / 1920), num_quantizers]."""
        hidden = self.seanet(samples.unsqueeze(1))  # [B, hidden, T25]
        hidden = self.transformer(hidden.transpose(1, 2)).transpose(1, 2)  # [B, hidden, T25]
        hidden = self.downsample(hidden)  # [B, hidden, T12]
        codes = self.quantizer.encode(hidden, num_quantizers)  # [B, T12, num_quantizers]
        return codes[:, : math.ceil(samples.shape[1] / self.config.samples_per_frame)]

    @torch.inference_mode()
    def encode(self, samples: torch.Tensor, num_quantizers: int) -> torch.Tensor:
        """``forward`` on samples of any float dtype or device: cast to the weights' (int64 codes)."""
        if samples.ndim != 2 or samples.shape[1] == 0:
            raise ValueError(f"encode expects samples [B, N] with N > 0, got shape {tuple(samples.shape)}")
        weight = self.downsample.conv.weight
        return self(samples.to(device=weight.device, dtype=weight.dtype), num_quantizers)
