"""The codec's convolutional pieces: the decoder's (causal and streamable) and the encoder's SEANet blocks.

Every decoder ``forward(x, state=None)`` takes ``x`` [B, C, T]: with ``state=None`` it decodes a whole
sequence from silence; with a ``StreamState`` it continues the stream, so that concatenated steps equal the
whole result. The encoder runs whole sequences only. Module and parameter names follow the checkpoint
(``conv``, ``alpha``/``beta``, ``dwconv``, ``block``, ...).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .streaming import StreamState

PAD_MODES = ("constant", "reflect", "replicate")


class PaddedConv1d(nn.Module):
    """A conv padded so that ``T`` inputs give ``ceil(T / stride)`` outputs (SEANet / Mimi padding).

    ``kernel_size - stride`` samples of padding (dilated kernel): all on the left when ``causal`` (each output
    sees only the present and the past), else split with the extra one on the left; then more on the right up
    to a whole number of strides, so the last partial window still gives an output. ``pad_mode`` fills all of
    it ("constant" = zeros, "reflect", "replicate"). A stream (``state``) needs the decoder's kind: causal,
    stride 1, zero padding.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        causal: bool = True,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride, dilation=dilation, groups=groups, bias=bias
        )
        self.stride, self.causal, self.pad_mode = stride, causal, pad_mode
        self.history = (kernel_size - 1) * dilation + 1 - stride  # padding_total: the dilated kernel - stride
        if self.history < 0:
            raise ValueError(f"conv stride {stride} exceeds its (dilated) kernel {kernel_size}")

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        if state is not None:
            if self.stride != 1 or not self.causal or self.pad_mode != "constant":
                raise ValueError("only causal, stride-1, zero-padded convs stream")
            if self.history:
                x = state.with_history(self, x, self.history)
            return self.conv(x)  # [B, C_out, T]
        completing = -x.shape[2] % self.stride  # to a whole number of strides
        left = self.history if self.causal else self.history - self.history // 2
        return self.conv(_pad1d(x, left, self.history - left + completing, self.pad_mode))


def _pad1d(x: torch.Tensor, left: int, right: int, mode: str) -> torch.Tensor:
    """``F.pad`` over the last dim; "reflect" on an input no longer than the padding reflects it with zeros
    appended first (and cut off after), as SEANet does."""
    if mode != "reflect":
        return F.pad(x, (left, right), mode=mode)
    extra = max(0, max(left, right) - x.shape[-1] + 1)
    padded = F.pad(F.pad(x, (0, extra)), (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]


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
        self.dwconv = PaddedConv1d(dim, dim, kernel_size=7, groups=dim)
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
        self.conv1 = PaddedConv1d(dim, dim, kernel_size=7, dilation=dilation)
        self.act2 = SnakeBeta(dim)
        self.conv2 = PaddedConv1d(dim, dim, kernel_size=1)

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


class SEANetResidualBlock(nn.Module):
    """ELU -> conv (k, dilated) to ``dim // compress`` -> ELU -> 1x1 conv back to ``dim``, plus the input
    (through a 1x1 conv when ``conv_shortcut``): the encoder's residual block (Mimi's ``MimiResnetBlock``)."""

    def __init__(
        self,
        dim: int,
        kernel_size: int,
        dilation: int,
        compress: int,
        conv_shortcut: bool = False,
        causal: bool = True,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__()
        hidden = dim // compress
        padding = {"causal": causal, "pad_mode": pad_mode}
        self.block = nn.ModuleList(
            [
                nn.ELU(),
                PaddedConv1d(dim, hidden, kernel_size, dilation=dilation, **padding),
                nn.ELU(),
                PaddedConv1d(hidden, dim, 1, **padding),
            ]
        )
        self.shortcut = PaddedConv1d(dim, dim, 1, **padding) if conv_shortcut else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, dim, T]
        h = x
        for layer in self.block:
            h = layer(h)
        return (x if self.shortcut is None else self.shortcut(x)) + h
