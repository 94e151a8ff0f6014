"""Feed-forward layers: gated (SwiGLU, the talker's and the codec decoder's) and plain GELU (Mimi's)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GatedMLP(nn.Module):
    """down(silu(gate(x)) * up(x)), no biases (Llama / Qwen)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)
        # gate/up as one matrix: set by ``fusion.fuse_projections`` after loading (the parts become views).
        self.register_buffer("gate_up_weight", None, persistent=False)
        # Or a quantized module doing the same product: set by ``qwen_tts.quant.quantize_model``.
        self.gate_up_proj: nn.Module | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, T, D]
        if self.gate_up_proj is not None:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        elif self.gate_up_weight is None:
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = F.linear(x, self.gate_up_weight).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class GeluMLP(nn.Module):
    """fc2(gelu(fc1(x))), exact (erf) GELU; no biases (Mimi) or with them (the aligner's audio encoder)."""

    def __init__(self, dim: int, hidden_dim: int, bias: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.fc2 = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, T, D]
        return self.fc2(F.gelu(self.fc1(x)))
