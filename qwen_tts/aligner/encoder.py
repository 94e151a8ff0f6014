"""The aligner's audio encoder: log-mel chunks -> 8x conv downsampling -> windowed transformer -> projection.

The mel frames are cut into chunks of 1 s (``2 * n_window`` frames); each chunk goes through three stride-2
convolutions on its own and gets sinusoidal positions counted from its own start, so a chunk's 100 frames
become 13 tokens. The transformer then attends within windows of ``n_window_infer`` frames (8 chunks),
never across them; the blocks are our shared ``TransformerBlock`` (LayerNorm / GELU flavour) without RoPE.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import TransformerBlock
from .config import AudioEncoderConfig


def tokens_after_convs(num_frames: int, chunk_frames: int = 100) -> int:
    """Encoder tokens for ``num_frames`` mel frames: 13 per full chunk, three ceil-halvings of the rest."""
    full, rest = divmod(num_frames, chunk_frames)
    tail = rest
    for _ in range(3):
        tail = (tail - 1) // 2 + 1
    per_chunk = chunk_frames
    for _ in range(3):
        per_chunk = (per_chunk - 1) // 2 + 1
    return full * per_chunk + tail


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed positional table [length, channels]: sines then cosines."""
    log_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_increment * torch.arange(channels // 2, device="cpu").float())
    scaled = torch.arange(length, device="cpu")[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


class AudioEncoder(nn.Module):
    def __init__(self, config: AudioEncoderConfig) -> None:
        super().__init__()
        self.config = config
        hidden = config.downsample_hidden_size
        self.conv2d1 = nn.Conv2d(1, hidden, 3, 2, padding=1)
        self.conv2d2 = nn.Conv2d(hidden, hidden, 3, 2, padding=1)
        self.conv2d3 = nn.Conv2d(hidden, hidden, 3, 2, padding=1)
        self.conv_out = nn.Linear(config.conv_out_features, config.d_model, bias=False)
        spec = config.block_spec()
        self.layers = nn.ModuleList(TransformerBlock(spec) for _ in range(config.num_layers))
        self.ln_post = nn.LayerNorm(config.d_model)
        self.proj1 = nn.Linear(config.d_model, config.d_model)
        self.proj2 = nn.Linear(config.d_model, config.output_dim)
        self.register_buffer("positions", None, persistent=False)
        self.compute_buffers()

    def compute_buffers(self) -> None:
        """The positional table: derived, not stored (the loader calls this again after a meta build)."""
        table = sinusoids(self.config.max_source_positions, self.config.d_model)
        self.positions = table.to(torch.get_default_device())

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [num_mels, frames] -> [tokens, output_dim]
        config = self.config
        num_frames = features.shape[1]
        chunks = list(features.T.split(config.chunk_frames, dim=0))  # each [<= chunk_frames, num_mels]
        lengths = [tokens_after_convs(chunk.shape[0], config.chunk_frames) for chunk in chunks]
        padded = nn.utils.rnn.pad_sequence(chunks, batch_first=True).transpose(1, 2)  # [C, mels, frames]
        padded = padded.unsqueeze(1).to(self.conv_out.weight.dtype)  # [C, 1, mels, frames]
        embedded = torch.cat([self._convs(part) for part in padded.split(config.conv_chunk_size)], dim=0)
        num_chunks, channels, freqs, steps = embedded.shape  # [C, hidden, mels / 8, frames / 8]
        embedded = self.conv_out(embedded.permute(0, 3, 1, 2).reshape(num_chunks, steps, channels * freqs))
        embedded = embedded + self.positions[:steps].to(embedded.dtype)  # [C, steps, D]
        valid = (
            torch.arange(steps, device=embedded.device)[None, :]
            < torch.tensor(lengths, device=embedded.device)[:, None]
        )
        x = embedded[valid]  # [N, D], the chunks' tokens back to back
        window = steps * (config.n_window_infer // config.chunk_frames)
        x = self._blocks(x[None], window)[0]  # [N, D]
        assert x.shape[0] == tokens_after_convs(num_frames, config.chunk_frames)
        return self.proj2(F.gelu(self.proj1(self.ln_post(x))))  # [N, output_dim]

    def _convs(self, chunks: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2d1(chunks))
        x = F.gelu(self.conv2d2(x))
        return F.gelu(self.conv2d3(x))

    def _blocks(self, x: torch.Tensor, window: int) -> torch.Tensor:  # [1, N, D]
        """Bidirectional attention within consecutive windows of ``window`` tokens (the last may be short).

        Nothing else in a block mixes tokens, so each window goes through the whole stack on its own: the
        full windows as one batch, the last (partial) one apart; no mask, no attention across windows.
        """
        tokens = x[0]  # [N, D]
        num_full = tokens.shape[0] // window
        parts = []
        if num_full:
            parts.append(self._stack(tokens[: num_full * window].reshape(num_full, window, -1)).flatten(0, 1))
        if tokens.shape[0] % window:
            parts.append(self._stack(tokens[num_full * window :][None])[0])
        return torch.cat(parts, dim=0)[None]

    def _stack(self, x: torch.Tensor) -> torch.Tensor:  # [W, L, D], each row one window
        head_dim = self.config.d_model // self.config.num_heads
        cos = torch.ones(1, x.shape[1], head_dim, dtype=x.dtype, device=x.device)  # no rotation
        sin = torch.zeros_like(cos)
        positions = torch.arange(x.shape[1], device=x.device)[None]  # unused without a cache
        for layer in self.layers:
            x = layer(x, cos, sin, positions, None)
        return x
