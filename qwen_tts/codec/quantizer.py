"""The split residual vector quantizer: codes -> embeddings (decoder) and embeddings -> codes (encoder).

Codebook 0 is the semantic quantizer, codebooks 1..N-1 the acoustic residual quantizers; each group has its
own codebooks and projections. Decoding sums each group's codebook vectors and projects them (1x1 conv) to
the output width; the two groups are added. Encoding projects the input into each group (1x1 conv) and picks,
per codebook in turn, the entry nearest the residual left by the codebooks before it.
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

    def centroids(self) -> torch.Tensor:  # [size, dim]
        return self.embedding_sum / self.cluster_usage.clamp(min=self.epsilon)[:, None]

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, dim]
        return F.embedding(codes, self.centroids())

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, dim] -> [B, T]: the nearest entry (L2)
        flat = x.reshape(-1, x.shape[-1]).float()  # [B*T, dim]
        distances = torch.cdist(flat[None], self.centroids().float()[None])[0]  # [B*T, size]
        return distances.argmin(dim=-1).view(x.shape[:-1])


class ResidualCodebooks(nn.Module):
    """``num_codebooks`` codebooks of one residual group, with its 1x1 projections into (encode) and out of
    (decode) the codebook width ``dim``; a side without a projection works at ``dim`` itself."""

    def __init__(
        self,
        num_codebooks: int,
        size: int,
        dim: int,
        input_dim: int | None = None,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.codebooks = nn.ModuleList(Codebook(size, dim) for _ in range(num_codebooks))
        self.input_proj = None if input_dim is None else nn.Conv1d(input_dim, dim, 1, bias=False)
        self.output_proj = None if output_dim is None else nn.Conv1d(dim, output_dim, 1, bias=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T, num_codebooks] -> [B, output_dim, T]
        summed = self.codebooks[0](codes[..., 0])
        for index in range(1, len(self.codebooks)):
            summed = summed + self.codebooks[index](codes[..., index])
        summed = summed.transpose(1, 2)  # [B, dim, T]
        return summed if self.output_proj is None else self.output_proj(summed)

    def encode(self, x: torch.Tensor, num_codebooks: int) -> torch.Tensor:
        """x [B, input_dim, T] -> codes [B, T, num_codebooks] of the first ``num_codebooks`` codebooks."""
        residual = (x if self.input_proj is None else self.input_proj(x)).transpose(1, 2)  # [B, T, dim]
        codes = []
        for codebook in self.codebooks[:num_codebooks]:
            indices = codebook.encode(residual)  # [B, T]
            residual = residual - codebook(indices)
            codes.append(indices)
        return torch.stack(codes, dim=-1)


class SplitResidualQuantizer(nn.Module):
    """Semantic codebook 0 (``rvq_first``) plus acoustic codebooks 1..N-1 (``rvq_rest``) of width ``dim``.

    The decoder's has output projections to ``output_dim`` (``forward``: codes -> [B, output_dim, T]); the
    encoder's has input projections from ``input_dim`` (``encode``: [B, input_dim, T] -> codes).
    """

    def __init__(
        self,
        num_quantizers: int,
        codebook_size: int,
        dim: int,
        input_dim: int | None = None,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.num_quantizers = num_quantizers
        self.rvq_first = ResidualCodebooks(1, codebook_size, dim, input_dim, output_dim)
        self.rvq_rest = ResidualCodebooks(num_quantizers - 1, codebook_size, dim, input_dim, output_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # [B, T, N] -> [B, output_dim, T]
        return self.rvq_first(codes[..., :1]) + self.rvq_rest(codes[..., 1:])

    def encode(self, x: torch.Tensor, num_quantizers: int) -> torch.Tensor:
        """x [B, input_dim, T] -> codes [B, T, num_quantizers] (int64): the semantic code, then acoustic."""
        if not 1 <= num_quantizers <= self.num_quantizers:
            raise ValueError(f"num_quantizers must lie in [1, {self.num_quantizers}], got {num_quantizers}")
        semantic = self.rvq_first.encode(x, 1)
        if num_quantizers == 1:
            return semantic
        return torch.cat((semantic, self.rvq_rest.encode(x, num_quantizers - 1)), dim=-1)
