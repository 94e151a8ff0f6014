"""Grouped-query self-attention over a static KV cache (gpt-fast style), with SDPA.

Positions are explicit: ``input_pos`` [B, T] holds each new token's slot in the cache (its absolute position),
so a decode step has static shapes and can be captured in a CUDA graph. The cache is passed per call (it
belongs to a request, not to the module). Without one the layer attends over its own input (a full
recompute; the reference path and one-shot encoders use that).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from .rms_norm import RMSNorm
from .rotary import apply_rotary
from .spec import TransformerSpec


class KVStore(Protocol):
    """Anything that takes a step's keys and values and returns those to attend over (KVCache, or a
    per-stream rolling window such as the codec decoder's)."""

    def update(
        self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class KVCache:
    """Keys and values of one attention layer, [B, H_kv, L, D] each, attended over their first ``kv_len``
    positions (all of them by default).

    Held per request or per batch (never on the module), so independent requests can interleave on one
    model. ``k`` and ``v`` may be views (rows of a batch's static cache, ``static_cache.py``): writes go
    through.
    """

    __slots__ = ("k", "kv_len", "v")

    def __init__(self, k: torch.Tensor, v: torch.Tensor, kv_len: int | None = None) -> None:
        self.k, self.v, self.kv_len = k, v, kv_len

    @classmethod
    def allocate(
        cls, batch: int, num_kv_heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device=None
    ) -> KVCache:
        shape = (batch, num_kv_heads, max_len, head_dim)
        k, v = (torch.zeros(shape, dtype=dtype, device=device) for _ in range(2))
        return cls(k, v)

    @property
    def max_len(self) -> int:
        """The key positions attended over."""
        return self.k.shape[2] if self.kv_len is None else self.kv_len

    def update(
        self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Writes k, v [B, H_kv, T, D] at slots input_pos [B, T]; returns the attended keys and values."""
        rows = torch.arange(k.shape[0], device=k.device)[:, None]  # [B, 1]
        # Advanced indices split by a slice put the indexed dims first: the target is [B, T, H_kv, D].
        self.k[rows, :, input_pos] = k.transpose(1, 2)
        self.v[rows, :, input_pos] = v.transpose(1, 2)
        return self.k[:, :, : self.max_len], self.v[:, :, : self.max_len]

    def resize(self, max_len: int) -> None:
        """Grows (or shrinks) to max_len positions, keeping the first min(old, new) positions; attends over
        all of them."""
        keep = min(max_len, self.max_len)
        for name in ("k", "v"):
            old = getattr(self, name)
            new = old.new_zeros((*old.shape[:2], max_len, old.shape[3]))
            new[:, :, :keep] = old[:, :, :keep]
            setattr(self, name, new)
        self.kv_len = None


def attention_mask(
    query_pos: torch.Tensor, key_pos: torch.Tensor, causal: bool = True, sliding_window: int | None = None
) -> torch.Tensor | None:
    """Boolean mask [B, 1, Tq, Tk] (True = attend) from query positions [B, Tq] and key positions [B, Tk]."""
    if not causal and sliding_window is None:
        return None
    distance = query_pos[:, :, None] - key_pos[:, None, :]  # [B, Tq, Tk]
    allowed = distance >= 0 if causal else torch.ones_like(distance, dtype=torch.bool)
    if sliding_window is not None:
        allowed = allowed & (distance.abs() < sliding_window)
    return allowed[:, None]


def additive_mask(allowed: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean mask as 0 / -inf biases: SDPA's CPU kernels take this form several times faster."""
    if allowed is None:
        return None
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, float("-inf"))


class Attention(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.num_heads = spec.num_heads
        self.num_kv_heads = spec.num_kv_heads
        self.head_dim = spec.head_dim
        self.scale = spec.head_dim**-0.5
        q_dim, kv_dim = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
        self.q_proj = nn.Linear(spec.hidden_size, q_dim, bias=spec.attention_bias)
        self.k_proj = nn.Linear(spec.hidden_size, kv_dim, bias=spec.attention_bias)
        self.v_proj = nn.Linear(spec.hidden_size, kv_dim, bias=spec.attention_bias)
        self.o_proj = nn.Linear(q_dim, spec.hidden_size, bias=spec.attention_bias)
        self.q_norm = RMSNorm(spec.head_dim, spec.rms_norm_eps) if spec.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(spec.head_dim, spec.rms_norm_eps) if spec.qk_norm else nn.Identity()
        # q/k/v as one matrix: set by ``fusion.fuse_projections`` after loading (the parts become views).
        self.register_buffer("qkv_weight", None, persistent=False)
        self.register_buffer("qkv_bias", None, persistent=False)
        # Or a quantized module doing the same product: set by ``qwen_tts.quant.quantize_model``.
        self.qkv_proj: nn.Module | None = None

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        cos: torch.Tensor,  # [B, T, head_dim]
        sin: torch.Tensor,  # [B, T, head_dim]
        input_pos: torch.Tensor,  # [B, T]
        mask: torch.Tensor | None,  # [B, 1, T, T_kv]: boolean (True = attend) or additive biases
        kv_cache: KVStore | None = None,  # this request's keys/values; None: attend over x alone
    ) -> torch.Tensor:
        batch, length, _ = x.shape
        q, k, v = self._project(x)
        q = self.q_norm(q.view(batch, length, self.num_heads, self.head_dim)).transpose(1, 2)
        k = self.k_norm(k.view(batch, length, self.num_kv_heads, self.head_dim)).transpose(1, 2)
        v = v.view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)  # [B, H, T, hd], [B, H_kv, T, hd]
        if kv_cache is not None:
            k, v = kv_cache.update(input_pos, k, v)  # [B, H_kv, T_kv, hd]
        # SDPA for single-token steps too: on the CPU a batched-matmul form is no faster (bench/layers.py).
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=self.scale, enable_gqa=self.num_heads != self.num_kv_heads
        )  # [B, H, T, hd]
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q [B, T, H*hd], k and v [B, T, H_kv*hd]: one matrix product when fused, else three."""
        sizes = (self.q_proj.out_features, self.k_proj.out_features, self.v_proj.out_features)
        if self.qkv_proj is not None:
            return self.qkv_proj(x).split(sizes, dim=-1)
        if self.qkv_weight is None:
            return self.q_proj(x), self.k_proj(x), self.v_proj(x)
        return F.linear(x, self.qkv_weight, self.qkv_bias).split(sizes, dim=-1)
