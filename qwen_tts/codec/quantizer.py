"""Code -> embedding lookup of the split residual vector quantizer (decode side only).

Codebook 0 is the semantic quantizer, codebooks 1..N-1 the acoustic residual quantizers; each group sums its
codebook vectors and projects them (1x1 conv) to the decoder's ``codebook_dim``, and the two groups are added.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Codebook(nn.Module):
    """Centroids stored as running sums and counts (``embedding_sum / cluster_usage``), as trained by EMA."""

    def __init__(self, size: int, dim: int, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.register_buffer("cluster_usage", torch.ones(size))
        self.register_buffer("embedding_sum", torch.zeros(size, dim))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, dim]
        centroids = self.embedding_sum / self.cluster_usage.clamp(min=self.epsilon)[:, None]
        return F.embedding(codes, centroids)


class ResidualCodebooks(nn.Module):
    """Sum of ``num_codebooks`` codebook lookups, projected from ``dim`` to ``output_dim``."""

    def __init__(self, num_codebooks: int, size: int, dim: int, output_dim: int) -> None:
        super().__init__()
        self.codebooks = nn.ModuleList(Codebook(size, dim) for _ in range(num_codebooks))
        self.output_proj = nn.Conv1d(dim, output_dim, 1, bias=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T, num_codebooks] -> [B, output_dim, T]
        summed = self.codebooks[0](codes[..., 0])
        for index in range(1, len(self.codebooks)):
            summed = summed + self.codebooks[index](codes[..., index])
        return self.output_proj(summed.transpose(1, 2))


class SplitResidualQuantizer(nn.Module):
    """Semantic codebook 0 plus acoustic codebooks 1..N-1, decoded to [B, codebook_dim, T]."""

    def __init__(self, num_quantizers: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        inner = codebook_dim // 2
        self.rvq_first = ResidualCodebooks(1, codebook_size, inner, codebook_dim)
        self.rvq_rest = ResidualCodebooks(num_quantizers - 1, codebook_size, inner, codebook_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T, N] -> [B, codebook_dim, T]
        return self.rvq_first(codes[..., :1]) + self.rvq_rest(codes[..., 1:])
