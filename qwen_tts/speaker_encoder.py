"""ECAPA-TDNN speaker encoder (Desplanques et al. 2020): reference audio -> the speaker embedding (x-vector).

Module and parameter names follow the checkpoint's ``speaker_encoder.*`` tensors (without that prefix), so a
state dict loads as is. Input is the log-mel spectrogram of ``qwen_tts.audio.mel_spectrogram`` at 24 kHz.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .audio import mel_spectrogram
from .config import SpeakerEncoderConfig

__all__ = ["SpeakerEncoder"]


def _same_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
    """A length-preserving conv whose padding mirrors the signal (reflect), as the checkpoint was trained."""
    return nn.Conv1d(
        in_channels, out_channels, kernel_size, dilation=dilation, padding="same", padding_mode="reflect"
    )


class TimeDelayBlock(nn.Module):
    """A dilated 1-D conv followed by ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = _same_conv(in_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, T]
        return F.relu(self.conv(x))


class Res2NetBlock(nn.Module):
    """Splits channels into ``scale`` groups; group i > 0 is convolved together with group i-1's output."""

    def __init__(self, channels: int, scale: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        width = channels // scale
        self.scale = scale
        self.blocks = nn.ModuleList(
            TimeDelayBlock(width, width, kernel_size, dilation) for _ in range(scale - 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        groups = torch.chunk(x, self.scale, dim=1)
        outputs = [groups[0]]
        for group, block in zip(groups[1:], self.blocks, strict=True):
            outputs.append(block(group if len(outputs) == 1 else group + outputs[-1]))
        return torch.cat(outputs, dim=1)


class SqueezeExcitation(nn.Module):
    """Rescales channels by a gate computed from their time average."""

    def __init__(self, channels: int, bottleneck: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, bottleneck, 1)
        self.conv2 = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(x.mean(dim=2, keepdim=True)))))  # [B, C, 1]
        return x * gate


class SERes2NetBlock(nn.Module):
    """TDNN -> Res2Net -> TDNN -> squeeze-excitation, with a residual connection."""

    def __init__(self, channels: int, scale: int, se_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.tdnn1 = TimeDelayBlock(channels, channels, 1, 1)
        self.res2net_block = Res2NetBlock(channels, scale, kernel_size, dilation)
        self.tdnn2 = TimeDelayBlock(channels, channels, 1, 1)
        self.se_block = SqueezeExcitation(channels, se_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x))))


def _weighted_stats(x: torch.Tensor, weights: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean and standard deviation over time under ``weights`` (summing to 1): [B, C, T] -> [B, 2C]."""
    mean = (weights * x).sum(dim=2)
    std = torch.sqrt((weights * (x - mean.unsqueeze(2)).pow(2)).sum(dim=2).clamp(eps))
    return torch.cat((mean, std), dim=1)


class AttentiveStatsPooling(nn.Module):
    """Statistics pooling whose frame weights come from attention over frames and global context."""

    def __init__(self, channels: int, attention_channels: int) -> None:
        super().__init__()
        self.tdnn = TimeDelayBlock(channels * 3, attention_channels, 1, 1)
        self.conv = nn.Conv1d(attention_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, 2C]
        num_frames = x.shape[2]
        uniform = torch.full_like(x[:, :1], 1.0 / num_frames)  # [B, 1, T]
        context = _weighted_stats(x, uniform).unsqueeze(2).expand(-1, -1, num_frames)  # [B, 2C, T]
        scores = self.conv(torch.tanh(self.tdnn(torch.cat((x, context), dim=1))))  # [B, C, T]
        return _weighted_stats(x, torch.softmax(scores, dim=2))


class SpeakerEncoder(nn.Module):
    def __init__(self, config: SpeakerEncoderConfig) -> None:
        super().__init__()
        channels, kernels, dilations = config.enc_channels, config.enc_kernel_sizes, config.enc_dilations
        if len(channels) < 3:
            raise ValueError(f"speaker encoder needs at least 3 enc_channels, got {channels}")
        if any(c % config.enc_res2net_scale for c in channels[1:-1]):
            raise ValueError(
                f"enc_channels {channels} not divisible by res2net scale {config.enc_res2net_scale}"
            )
        if sum(channels[1:-1]) != channels[-1]:
            raise ValueError(f"enc_channels[-1] must equal the sum of the SE-Res2Net widths, got {channels}")
        if len(set(channels[:-1])) != 1:
            raise ValueError(
                f"the SE-Res2Net blocks are residual: enc_channels[:-1] must be equal, got {channels}"
            )
        self.config = config
        self.blocks = nn.ModuleList([TimeDelayBlock(config.mel_dim, channels[0], kernels[0], dilations[0])])
        for i in range(1, len(channels) - 1):
            self.blocks.append(
                SERes2NetBlock(
                    channels[i], config.enc_res2net_scale, config.enc_se_channels, kernels[i], dilations[i]
                )
            )
        self.mfa = TimeDelayBlock(channels[-1], channels[-1], kernels[-1], dilations[-1])
        self.asp = AttentiveStatsPooling(channels[-1], config.enc_attention_channels)
        self.fc = nn.Conv1d(channels[-1] * 2, config.enc_dim, 1)
        # reflect padding needs more frames than the widest conv's one-sided padding
        self.min_frames = 1 + max((k - 1) * d // 2 for k, d in zip(kernels, dilations, strict=True))

    def forward(self, mels: torch.Tensor) -> torch.Tensor:  # [B, frames, mel_dim] -> [B, enc_dim]
        x = mels.transpose(1, 2)  # [B, mel_dim, frames]
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        x = self.mfa(torch.cat(features[1:], dim=1))  # multi-layer feature aggregation, [B, C, frames]
        return self.fc(self.asp(x).unsqueeze(2)).squeeze(2)

    @torch.inference_mode()
    def embed(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Speaker embedding [enc_dim] of mono audio [N] ([B, enc_dim] of [B, N]) at config.sample_rate."""
        waves = torch.as_tensor(samples, dtype=torch.float32)
        single = waves.ndim == 1
        mels = mel_spectrogram(
            waves if not single else waves.unsqueeze(0), sample_rate=self.config.sample_rate
        )
        if mels.shape[2] < self.min_frames:
            raise ValueError(f"reference audio too short for the speaker encoder: {waves.shape[-1]} samples")
        weight = self.fc.weight
        embedding = self(mels.transpose(1, 2).to(device=weight.device, dtype=weight.dtype))
        return embedding[0] if single else embedding
