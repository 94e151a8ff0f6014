"""Pre-norm transformer block: x + attn(norm(x)), then + mlp(norm(x)), each optionally layer-scaled.

The norm (RMSNorm or LayerNorm) and the MLP (gated SiLU or GELU) are the spec's choice; names follow the
checkpoints (``input_layernorm``, ``self_attn``, ``post_attention_layernorm``, ``mlp``, ``*_layer_scale``).
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention, KVStore
from .mlp import GatedMLP, GeluMLP
from .rms_norm import RMSNorm
from .spec import TransformerSpec


class LayerScale(nn.Module):
    """Per-channel learnt scale on a residual branch (CaiT, Touvron et al. 2021)."""

    def __init__(self, dim: int, initial_scale: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), initial_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class TransformerBlock(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.input_layernorm = _norm(spec)
        self.self_attn = Attention(spec)
        self.post_attention_layernorm = _norm(spec)
        if spec.mlp == "gated_silu":
            self.mlp: nn.Module = GatedMLP(spec.hidden_size, spec.intermediate_size)
        else:
            self.mlp = GeluMLP(spec.hidden_size, spec.intermediate_size, bias=spec.mlp_bias)
        with_scale = spec.layer_scale is not None
        self.self_attn_layer_scale = (
            LayerScale(spec.hidden_size, spec.layer_scale) if with_scale else nn.Identity()
        )
        self.mlp_layer_scale = LayerScale(spec.hidden_size, spec.layer_scale) if with_scale else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        cos: torch.Tensor,
        sin: torch.Tensor,
        input_pos: torch.Tensor,  # [B, T]
        mask: torch.Tensor | None,
        kv_cache: KVStore | None = None,  # this request's keys/values of this layer
    ) -> torch.Tensor:
        attn = self.self_attn(self.input_layernorm(x), cos, sin, input_pos, mask, kv_cache)
        x = x + self.self_attn_layer_scale(attn)
        return x + self.mlp_layer_scale(self.mlp(self.post_attention_layernorm(x)))


def _norm(spec: TransformerSpec) -> nn.Module:
    if spec.norm == "layer":
        return nn.LayerNorm(spec.hidden_size, eps=spec.rms_norm_eps)
    return RMSNorm(spec.hidden_size, spec.rms_norm_eps)
