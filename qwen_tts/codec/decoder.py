"""The 12 Hz codec decoder: codes [B, T, 16] -> 24 kHz waveform [B, T * 1920], causal end to end.

``forward(codes)`` decodes a whole sequence in one pass (the reference path). ``decode_step(codes, state)``
continues a stream: it decodes only the new frames, carrying conv histories, transposed-conv overhangs and
the attention key/value window in ``state``, so that the concatenated steps equal ``forward`` of the whole.
``decode_many(codes, states)`` continues several streams, each at its own frame, in one pass (one read of the
weights, one set of kernel launches): their states are stacked along the batch and split back afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .config import DecoderConfig
from .convs import CausalConvTranspose1d, ConvNeXtBlock, DecoderBlock, PaddedConv1d, SnakeBeta
from .quantizer import SplitResidualQuantizer
from .streaming import StreamState
from .transformer import DecoderTransformer


class CodecDecoder(nn.Module):
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.quantizer = SplitResidualQuantizer(
            config.num_quantizers,
            config.codebook_size,
            config.codebook_dim // 2,
            output_dim=config.codebook_dim,
        )
        self.pre_conv = PaddedConv1d(config.codebook_dim, config.latent_dim, kernel_size=3)
        self.pre_transformer = DecoderTransformer(config.transformer, config.latent_dim)
        self.upsample = nn.ModuleList(
            nn.ModuleList(
                [
                    CausalConvTranspose1d(config.latent_dim, config.latent_dim, ratio, ratio),
                    ConvNeXtBlock(config.latent_dim),
                ]
            )
            for ratio in config.upsampling_ratios
        )
        dims = [config.decoder_dim // 2**i for i in range(len(config.upsample_rates) + 1)]
        self.decoder = nn.ModuleList(
            [
                PaddedConv1d(config.latent_dim, config.decoder_dim, kernel_size=7),
                *(DecoderBlock(dims[i], dims[i + 1], rate) for i, rate in enumerate(config.upsample_rates)),
                SnakeBeta(dims[-1]),
                PaddedConv1d(dims[-1], 1, kernel_size=7),
            ]
        )

    @property
    def samples_per_frame(self) -> int:
        return self.config.samples_per_frame

    def init_state(self, batch: int = 1) -> StreamState:
        """A fresh stream: silence before its first frame."""
        spec = self.config.transformer
        return StreamState(batch, spec.num_layers, kv_keep=spec.sliding_window - 1)

    def forward(self, codes: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        """codes [B, T, num_quantizers] (int64) -> samples [B, T * samples_per_frame] in [-1, 1]."""
        if codes.shape[1] == 0:
            return self.pre_conv.conv.weight.new_zeros(codes.shape[0], 0)
        hidden = self.pre_conv(self.quantizer(codes), state)  # [B, latent_dim, T]
        hidden = self.pre_transformer(hidden.transpose(1, 2), state).transpose(1, 2)  # [B, latent_dim, T]
        for upsample, convnext in self.upsample:
            hidden = convnext(upsample(hidden, state), state)
        first, *blocks, activation, last = self.decoder
        hidden = first(hidden, state)  # [B, decoder_dim, T * prod(upsampling_ratios)]
        for block in blocks:
            hidden = block(hidden, state)
        samples = last(activation(hidden), state)  # [B, 1, T * samples_per_frame]
        if state is not None:
            state.advance(codes.shape[1])
        return samples.squeeze(1).clamp(-1.0, 1.0)

    @torch.inference_mode()
    def decode_step(self, codes: torch.Tensor, state: StreamState) -> torch.Tensor:
        """The next ``t`` frames of a stream: codes [B, t, num_quantizers] -> samples [B, t * 1920]."""
        return self.decode_many([codes], [state])[0]

    @torch.inference_mode()
    def decode_many(self, codes: Sequence[torch.Tensor], states: Sequence[StreamState]) -> list[torch.Tensor]:
        """The next ``t`` frames of several streams in one decoder pass.

        ``codes[i]`` [B_i, t, num_quantizers] continues ``states[i]`` (batch B_i, usually 1), with the same
        ``t`` for all; the streams may be at different frames. Returns samples [B_i, t * 1920] per stream and
        leaves each state exactly as ``decode_step(codes[i], states[i])`` would.
        """
        if len(codes) != len(states):
            raise ValueError(f"{len(codes)} code blocks for {len(states)} stream states")
        if not codes:
            return []
        for block, state in zip(codes, states, strict=True):
            if block.ndim != 3 or block.shape[0] != state.batch:
                raise ValueError(
                    f"stream state is for batch {state.batch}, got codes of shape {tuple(block.shape)}"
                )
        lengths = {block.shape[1] for block in codes}
        if len(lengths) > 1:
            raise ValueError(
                f"streams decoded together need the same number of new frames, got {sorted(lengths)}"
            )
        if len(states) == 1:
            return [self(codes[0], states[0])]
        if lengths == {0}:
            return [self(block) for block in codes]  # nothing to decode: empty samples, states unchanged
        batched = StreamState.stack(states)
        samples = self(torch.cat(list(codes)), batched)  # [sum B_i, t * 1920]
        batched.unstack(states)
        return list(samples.split([state.batch for state in states]))
