"""A stack of pre-norm blocks with a final norm and RoPE; KV caches are passed in per request."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .attention import KVCache, additive_mask, attention_mask
from .block import TransformerBlock
from .rms_norm import RMSNorm
from .rotary import RotaryEmbedding
from .spec import TransformerSpec


class Transformer(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList(TransformerBlock(spec) for _ in range(spec.num_layers))
        self.norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.rotary = RotaryEmbedding(
            spec.head_dim, spec.rope_theta, spec.mrope_section, spec.mrope_interleaved
        )

    def new_caches(
        self, batch: int, max_len: int, dtype: torch.dtype | None = None, device=None
    ) -> list[KVCache]:
        """One static KV cache per layer: ``batch`` rows of ``max_len`` positions."""
        if batch <= 0 or max_len <= 0:
            raise ValueError(f"cache sizes must be positive, got batch={batch}, max_len={max_len}")
        weight = self.norm.weight
        dtype, device = dtype or weight.dtype, device or weight.device
        spec = self.spec
        shape = (batch, spec.num_kv_heads, max_len, spec.head_dim)
        return [KVCache.allocate(*shape, dtype, device) for _ in self.layers]

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        input_pos: torch.Tensor,  # [B, T] absolute positions (= cache slots)
        caches: Sequence[KVCache] | None = None,  # None: attend over x alone (full recompute)
        rope_pos: torch.Tensor | None = None,  # [S, B, T] M-RoPE streams; None: input_pos for every stream
    ) -> torch.Tensor:
        cos, sin = self.rotary(input_pos if rope_pos is None else rope_pos, x.dtype)  # [B, T, head_dim]
        if caches is not None:
            key_pos = torch.arange(caches[0].max_len, device=x.device).expand(x.shape[0], -1)  # [B, L]
        else:
            key_pos = input_pos
        allowed = attention_mask(input_pos, key_pos, self.spec.causal, self.spec.sliding_window)
        mask = additive_mask(allowed, x.dtype)  # [B, 1, T, L]
        for index, layer in enumerate(self.layers):
            x = layer(x, cos, sin, input_pos, mask, None if caches is None else caches[index])
        return self.norm(x)  # [B, T, D]
