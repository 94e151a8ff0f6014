"""Rotary position embedding, with multimodal RoPE (M-RoPE) as its general case.

M-RoPE splits the rotary frequencies into sections, each rotated by its own position stream (Qwen2-VL:
temporal, height, width). With every stream holding the same positions it reduces exactly to plain 1-D RoPE,
which is what a text-only (or speech-only) sequence uses; a ``[B, T]`` position tensor means exactly that.
"""

from __future__ import annotations

import torch
from torch import nn


def _stream_of_frequency(mrope_section: tuple[int, ...], interleaved: bool) -> torch.Tensor:
    """For each of the head_dim/2 frequencies, the index of the position stream that rotates it."""
    num_freqs = sum(mrope_section)
    num_streams = len(mrope_section)
    stream = torch.zeros(num_freqs, dtype=torch.long, device="cpu")
    if interleaved:
        # Frequencies are dealt round-robin: stream s owns s, s+S, s+2S, ... up to mrope_section[s]*S.
        for s in range(1, num_streams):
            stream[s : mrope_section[s] * num_streams : num_streams] = s
    else:
        # Contiguous sections: the first mrope_section[0] frequencies belong to stream 0, and so on.
        start = 0
        for s, size in enumerate(mrope_section):
            stream[start : start + size] = s
            start += size
    return stream


class RotaryEmbedding(nn.Module):
    """(cos, sin) of shape [B, T, head_dim] from positions [B, T] or per-stream positions [S, B, T]."""

    def __init__(
        self,
        head_dim: int,
        theta: float = 10000.0,
        mrope_section: tuple[int, ...] | None = None,
        interleaved: bool = False,
    ) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary head_dim must be even, got {head_dim}")
        self.head_dim, self.theta, self.interleaved = head_dim, theta, interleaved
        self.mrope_section = tuple(mrope_section) if mrope_section else None
        if self.mrope_section is not None and sum(self.mrope_section) != head_dim // 2:
            raise ValueError(f"mrope_section {self.mrope_section} must sum to head_dim/2 = {head_dim // 2}")
        self.compute_buffers()

    def compute_buffers(self) -> None:
        """(Re)computes ``inv_freq`` and ``stream_of_frequency`` (float32, int64) on the default device.

        They are derived, not stored (non-persistent: no checkpoint holds them), so a model constructed on the
        meta device has them only as shapes; ``qwen_tts.loading.build_model`` calls this once it is loaded.
        The maths runs on CPU whatever the default device: on meta it would cost seconds of first-use imports.
        """
        device = torch.get_default_device()
        exponents = torch.arange(0, self.head_dim, 2, dtype=torch.int64, device="cpu").float() / self.head_dim
        inv_freq = 1.0 / (self.theta**exponents)  # [D/2]
        self.register_buffer("inv_freq", inv_freq.to(device), persistent=False)
        if self.mrope_section is not None:
            stream = _stream_of_frequency(self.mrope_section, self.interleaved)  # [D/2]
            self.register_buffer("stream_of_frequency", stream.to(device), persistent=False)

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if positions.dim() == 2:  # [B, T]: one stream (M-RoPE with identical streams is exactly this)
            angles = positions.float()[..., None] * self.inv_freq  # [B, T, D/2]
        else:  # [S, B, T]
            if self.mrope_section is None or positions.shape[0] != len(self.mrope_section):
                raise ValueError(
                    f"got {positions.shape[0]} position streams for mrope_section {self.mrope_section}"
                )
            per_stream = positions.float()[..., None] * self.inv_freq  # [S, B, T, D/2]
            index = self.stream_of_frequency.view(1, 1, 1, -1).expand(1, *per_stream.shape[1:])
            angles = per_stream.gather(0, index).squeeze(0)  # [B, T, D/2]
        angles = torch.cat((angles, angles), dim=-1)  # [B, T, D]
        return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [B, H, T, D]; cos, sin: [B, T, D]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin
