"""The aligner network: audio encoder, token embeddings, causal Qwen3 decoder and the timestamp head.

One non-autoregressive pass: the prompt holds the audio (its encoder outputs in place of the audio-pad
tokens) and the transcript with two timestamp tokens after each word; the head classifies every position
into ``num_classes`` time slots, and the slots at the timestamp tokens are the words' start and end.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import Transformer
from .config import AlignerConfig
from .encoder import AudioEncoder


class AlignerModel(nn.Module):
    def __init__(self, config: AlignerConfig) -> None:
        super().__init__()
        self.config = config
        self.audio_tower = AudioEncoder(config.audio)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.decoder.hidden_size)
        self.decoder = Transformer(config.decoder)
        self.lm_head = nn.Linear(config.decoder.hidden_size, config.num_classes, bias=False)

    def forward(
        self,
        input_ids: torch.Tensor,  # [T] the prompt, with one audio-pad token per encoder output
        features: torch.Tensor,  # [num_mels, frames] log-mel features of the audio
        at: torch.Tensor | None = None,  # [K] positions whose logits are wanted; None: all
    ) -> torch.Tensor:  # [K, num_classes] (or [T, num_classes])
        audio = self.audio_tower(features)  # [N, D]
        x = self.embed_tokens(input_ids)  # [T, D]
        is_audio = input_ids == self.config.audio_token_id
        x = x.masked_scatter(is_audio[:, None], audio.to(x.dtype))
        positions = torch.arange(input_ids.shape[0], device=input_ids.device)[None]  # [1, T]
        hidden = self.decoder(x[None], positions)[0]  # [T, D]
        return self.lm_head(hidden if at is None else hidden[at])
