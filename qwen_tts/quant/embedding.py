"""``QuantizedEmbedding``: an embedding table stored in int8, dequantized row by row on lookup.

Why: the code predictor's 15 codec embedding tables (15 x 2048 x 1024 at 0.6B: 120 MiB in float32) are a
large share of an int8 engine's resident memory, yet a step reads one row of each, so storing them in int8
costs a multiply per element read (no measurable time) and saves 3 bytes per parameter. Per-row symmetric
scales (``kernels.quantize_int8``): an element is off by at most half its row's step, max|row| / 254.
"""

from __future__ import annotations

import torch
from torch import nn

from .kernels import quantize_int8


class QuantizedEmbedding(nn.Module):
    """``nn.Embedding``'s lookup over int8 rows (buffer ``q`` [V, D]) and per-row scales (``scales`` [V], in
    the table's dtype, which is the dtype of what a lookup returns)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = weight.shape
        q, scales = quantize_int8(weight)
        self.register_buffer("q", q.to(weight.device))
        self.register_buffer("scales", scales.to(weight.device, weight.dtype))

    @classmethod
    def from_embedding(cls, embedding: nn.Embedding) -> QuantizedEmbedding:
        return cls(embedding.weight.detach())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.q[ids].to(self.scales.dtype) * self.scales[ids].unsqueeze(-1)

    def dequantized(self) -> torch.Tensor:
        """The whole table as the lookups see it, [V, D]."""
        return self.q.to(self.scales.dtype) * self.scales[:, None]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8"
