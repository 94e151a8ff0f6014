"""A stack of pre-norm blocks with a final norm, RoPE and optional static KV caches."""

from __future__ import annotations

import torch
from torch import nn

from .attention import KVCache, attention_mask
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
        self.max_cache_len = 0

    def setup_caches(
        self, max_batch: int, max_len: int, dtype: torch.dtype | None = None, device=None
    ) -> None:
        """Allocates one static KV cache per layer: max_batch rows of max_len positions."""
        if max_batch <= 0 or max_len <= 0:
            raise ValueError(f"cache sizes must be positive, got max_batch={max_batch}, max_len={max_len}")
        weight = self.norm.weight
        dtype, device = dtype or weight.dtype, device or weight.device
        for layer in self.layers:
            layer.self_attn.kv_cache = KVCache(
                max_batch, self.spec.num_kv_heads, max_len, self.spec.head_dim, dtype, device
            )
        self.max_cache_len = max_len

    def clear_caches(self) -> None:
        for layer in self.layers:
            layer.self_attn.kv_cache = None
        self.max_cache_len = 0

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        input_pos: torch.Tensor,  # [B, T] absolute positions (= cache slots)
        rope_pos: torch.Tensor | None = None,  # [S, B, T] M-RoPE streams; None: input_pos for every stream
    ) -> torch.Tensor:
        cos, sin = self.rotary(input_pos if rope_pos is None else rope_pos, x.dtype)  # [B, T, head_dim]
        if self.max_cache_len:
            key_pos = torch.arange(self.max_cache_len, device=x.device).expand(x.shape[0], -1)  # [B, L]
        else:
            key_pos = input_pos
        mask = attention_mask(input_pos, key_pos, self.spec.causal, self.spec.sliding_window)
        for layer in self.layers:
            x = layer(x, cos, sin, input_pos, mask)
        return self.norm(x)  # [B, T, D]
