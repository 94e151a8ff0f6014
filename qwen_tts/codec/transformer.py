"""The decoder's transformer: sliding-window causal attention (window 72), RoPE, layer scale.

Built from the shared ``qwen_tts.layers`` blocks, between linear projections from and to the latent width.
A stream passes its ``StreamState``, whose rolling key/value windows make each step attend exactly as the
whole-sequence pass does; rows of a stacked state each have their own positions (and window padding).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import RMSNorm, RotaryEmbedding, TransformerBlock, TransformerSpec, attention_mask
from .streaming import StreamState


class DecoderTransformer(nn.Module):
    def __init__(self, spec: TransformerSpec, latent_dim: int) -> None:
        super().__init__()
        if spec.sliding_window is None or not spec.causal:
            raise ValueError("the codec transformer is causal with a sliding window")
        self.spec = spec
        self.input_proj = nn.Linear(latent_dim, spec.hidden_size)
        self.layers = nn.ModuleList(TransformerBlock(spec) for _ in range(spec.num_layers))
        self.norm = RMSNorm(spec.hidden_size, spec.rms_norm_eps)
        self.output_proj = nn.Linear(spec.hidden_size, latent_dim)
        self.rotary = RotaryEmbedding(spec.head_dim, spec.rope_theta)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        batch, length, _ = x.shape  # [B, T, latent_dim]
        num_past = 0 if state is None else state.kv[0].length
        start = 0 if state is None else state.next_positions(x.device)  # [B, 1]: each row's first new frame
        offsets = torch.arange(-num_past, length, device=x.device)  # [P + T]: the window, then the new frames
        key_positions = (start + offsets).expand(batch, -1)  # [B, P + T]
        positions = key_positions[:, num_past:]  # [B, T]
        mask = attention_mask(positions, key_positions, causal=True, sliding_window=self.spec.sliding_window)
        if state is not None:
            # Slots at negative positions pad the window of a stream younger than those stacked with it.
            mask = mask & (key_positions >= 0)[:, None, None, :]
        h = self.input_proj(x)
        cos, sin = self.rotary(positions, h.dtype)  # [B, T, head_dim]
        for index, layer in enumerate(self.layers):
            h = layer(h, cos, sin, positions, mask, None if state is None else state.kv[index])
        return self.output_proj(self.norm(h))  # [B, T, latent_dim]
