"""The talker and its code predictor: modules and maths only (generation lives in ``generation.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .config import CodePredictorConfig, ModelConfig, TalkerConfig
from .layers import KVCache, Transformer


class TextProjection(nn.Module):
    """Text embeddings -> talker width: fc2(silu(fc1(x))), with biases."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_fc1 = nn.Linear(in_dim, hidden_dim, bias=True)
        self.linear_fc2 = nn.Linear(hidden_dim, out_dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_fc2(F.silu(self.linear_fc1(x)))


class CodePredictor(nn.Module):
    """Fills codebooks 1..G-1 of a frame from the talker's hidden state and codebook 0.

    Its input sequence is [talker hidden, embed(code 0), embed_1(code 1), ...]; after position j+1 it predicts
    code j+1 with ``lm_head[j]``. A frame is exactly ``num_code_groups`` positions long.
    """

    def __init__(self, config: CodePredictorConfig, talker_hidden_size: int) -> None:
        super().__init__()
        spec = config.transformer
        self.num_code_groups = config.num_code_groups
        self.transformer = Transformer(spec)
        num_heads = config.num_code_groups - 1
        # Embeddings of codebooks 1..G-1 live at the talker's width (they are summed into the talker input).
        self.codec_embedding = nn.ModuleList(
            nn.Embedding(config.vocab_size, talker_hidden_size) for _ in range(num_heads)
        )
        self.lm_head = nn.ModuleList(
            nn.Linear(spec.hidden_size, config.vocab_size, bias=False) for _ in range(num_heads)
        )
        self.small_to_mtp_projection = (
            nn.Linear(talker_hidden_size, spec.hidden_size, bias=True)
            if spec.hidden_size != talker_hidden_size
            else nn.Identity()
        )

    def forward(
        self, x: torch.Tensor, input_pos: torch.Tensor, caches: Sequence[KVCache] | None = None
    ) -> torch.Tensor:
        """x: [B, T, talker_hidden] -> hidden [B, T, predictor_hidden]."""
        return self.transformer(self.small_to_mtp_projection(x), input_pos, caches)


class Talker(nn.Module):
    """The Qwen3 decoder over summed text and codec embeddings; predicts codebook 0 of each frame."""

    def __init__(self, config: TalkerConfig, predictor_config: CodePredictorConfig) -> None:
        super().__init__()
        hidden = config.transformer.hidden_size
        self.transformer = Transformer(config.transformer)
        self.codec_embedding = nn.Embedding(config.vocab_size, hidden)
        self.text_embedding = nn.Embedding(config.text_vocab_size, config.text_hidden_size)
        self.text_projection = TextProjection(config.text_hidden_size, config.text_hidden_size, hidden)
        self.codec_head = nn.Linear(hidden, config.vocab_size, bias=False)
        self.code_predictor = CodePredictor(predictor_config, hidden)

    def embed_text(self, token_ids: torch.Tensor) -> torch.Tensor:
        """[B, T] text token ids -> [B, T, D].

        The text table may be in another dtype than the rest (``loading.build_model`` keeps it as the
        checkpoint stores it, memory-mapped on CPU): only the rows looked up are cast.
        """
        rows = self.text_embedding(token_ids)  # [B, T, text_hidden]
        # The compute dtype, read off the codec table: the projection's layers may be int8 (``quant``).
        return self.text_projection(rows.to(self.codec_embedding.weight.dtype))

    def embed_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """[..., G] codes of whole frames -> [..., D]: the sum of the G codebook embeddings."""
        parts = [self.codec_embedding(codes[..., 0])]
        parts += [emb(codes[..., j + 1]) for j, emb in enumerate(self.code_predictor.codec_embedding)]
        return torch.stack(parts, dim=-2).sum(-2)

    def forward(
        self, x: torch.Tensor, input_pos: torch.Tensor, caches: Sequence[KVCache] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, T, D] -> (codebook-0 logits [B, T, V], hidden [B, T, D])."""
        hidden = self.transformer(x, input_pos, caches)  # three identical M-RoPE streams == input_pos
        return self.codec_head(hidden), hidden


class TTSModel(nn.Module):
    """Everything in model.safetensors: the talker and, for Base models, the speaker encoder."""

    def __init__(self, config: ModelConfig, speaker_encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.talker = Talker(config.talker, config.code_predictor)
        self.speaker_encoder = speaker_encoder
