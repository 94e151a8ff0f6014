"""The decoder's convolutional pieces, each causal and streamable.

Every ``forward(x, state=None)`` takes ``x`` [B, C, T]: with ``state=None`` it decodes a whole sequence from
silence; with a ``StreamState`` it continues the stream, so that concatenated steps equal the whole result.
Module and parameter names follow the checkpoint (``conv``, ``alpha``/``beta``, ``dwconv``, ``block``, ...).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .streaming import StreamState


class CausalConv1d(nn.Module):
    """Stride-1 conv that sees only the present and the past: left zero-padding of ``(k - 1) * dilation``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, groups=groups)
        self.history = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        if state is None:
            x = F.pad(x, (self.history, 0))
        elif self.history:
            x = state.with_history(self, x, self.history)
        return self.conv(x)  # [B, C_out, T]


class CausalConvTranspose1d(nn.Module):
    """Transposed conv upsampling by ``stride``, right-trimmed to ``T * stride`` outputs (no look-ahead).

    Outputs ``[0, T * stride)`` are final once ``T`` inputs are in; the ``kernel - stride`` samples beyond
    them are the overhang a stream carries into the next step.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        if kernel_size < stride:
            raise ValueError(f"transposed conv kernel {kernel_size} shorter than its stride {stride}")
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride)
        self.stride = stride

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        num_final = x.shape[2] * self.stride
        y = self._overlap_add(x)  # [B, C_out, (T - 1) * stride + kernel], without bias
        y = y[:, :, :num_final] if state is None else state.carry_overhang(self, y, num_final)
        return y if self.conv.bias is None else y + self.conv.bias[:, None]

    def _overlap_add(self, x: torch.Tensor) -> torch.Tensor:
        """The transposed conv as one matmul plus an overlap-add of kernel/stride shifted blocks: the same
        sums as ``conv_transpose1d``, whose CPU kernel is an order of magnitude slower at these shapes."""
        weight, stride = self.conv.weight, self.stride  # [C_in, C_out, k]
        in_channels, out_channels, kernel = weight.shape
        if kernel % stride:
            return F.conv_transpose1d(x, weight, None, stride)
        batch, _, length = x.shape
        overlap = kernel // stride
        blocks = torch.matmul(x.transpose(1, 2), weight.reshape(in_channels, -1))  # [B, T, C_out * k]
        blocks = blocks.view(batch, length, out_channels, overlap, stride)
        y = blocks.new_zeros(batch, length + overlap - 1, out_channels, stride)
        for shift in range(overlap):
            y[:, shift : shift + length] += blocks[:, :, :, shift]
        return y.permute(0, 2, 1, 3).reshape(batch, out_channels, (length + overlap - 1) * stride)


class SnakeBeta(nn.Module):
    """x + sin²(x·e^α) / e^β per channel (α, β stored in log scale)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        alpha = self.alpha.exp()[:, None]
        beta = self.beta.exp()[:, None]
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class ConvNeXtBlock(nn.Module):
    """Causal depthwise conv -> LayerNorm -> pointwise MLP (GELU) -> per-channel scale, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = CausalConv1d(dim, dim, kernel_size=7, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        h = self.dwconv(x, state).transpose(1, 2)  # [B, T, C]
        h = self.gamma * self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + h.transpose(1, 2)


class ResidualUnit(nn.Module):
    """SnakeBeta -> dilated causal conv (k=7) -> SnakeBeta -> 1x1 conv, residual."""

    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.act1 = SnakeBeta(dim)
        self.conv1 = CausalConv1d(dim, dim, kernel_size=7, dilation=dilation)
        self.act2 = SnakeBeta(dim)
        self.conv2 = CausalConv1d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        return x + self.conv2(self.act2(self.conv1(self.act1(x), state)), state)


class DecoderBlock(nn.Module):
    """SnakeBeta, a 2x-kernel transposed conv upsampling by ``rate``, then residual units dilated 1, 3, 9."""

    def __init__(self, in_dim: int, out_dim: int, rate: int) -> None:
        super().__init__()
        self.block = nn.ModuleList(
            [
                SnakeBeta(in_dim),
                CausalConvTranspose1d(in_dim, out_dim, 2 * rate, rate),
                *(ResidualUnit(out_dim, dilation) for dilation in (1, 3, 9)),
            ]
        )

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        activation, upsample, *units = self.block
        x = upsample(activation(x), state)
        for unit in units:
            x = unit(x, state)
        return x
