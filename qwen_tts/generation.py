"""The phases of generating a frame, as free functions (``batch.py`` runs them over a batch of requests).

One frame: the talker step gives codebook-0 logits; the code predictor runs ``num_code_groups - 1`` steps to
fill codebooks 1..G-1; the next talker input is the sum of the frame's G codebook embeddings plus the next
row of trailing text (or tts_pad once the text is used up). Shapes are static and positions are tensors, so
a whole frame can be captured in one CUDA graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .layers import KVStore
from .model import CodePredictor
from .noise import draw_keys
from .sampling import SamplerTensors, penalize_repetition, sample


@dataclass(frozen=True, slots=True)
class TalkerLogitsRules:
    """What shapes codebook-0 logits before sampling: repetition penalty, min length, suppressed ids."""

    repetition_penalty: torch.Tensor  # [B, 1]
    min_new_frames: torch.Tensor  # [B]
    suppressed: torch.Tensor  # [V] bool: control ids a frame may not start with (EOS excluded)
    eos_id: int

    def rows(self, start: int, stop: int) -> TalkerLogitsRules:
        """The rules of rows [start, stop) (views)."""
        return TalkerLogitsRules(
            self.repetition_penalty[start:stop], self.min_new_frames[start:stop], self.suppressed, self.eos_id
        )


def suppressed_ids(vocab_size: int, eos_id: int, device: torch.device) -> torch.Tensor:
    """The official rule: ids vocab_size-1024 .. vocab_size-1 are control/speaker/language ids, EOS aside."""
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    mask[max(vocab_size - 1024, 0) :] = True
    mask[eos_id] = False
    return mask


def process_talker_logits(
    logits: torch.Tensor, seen: torch.Tensor, step: torch.Tensor, rules: TalkerLogitsRules
) -> torch.Tensor:
    """[B, V] logits of codebook 0 for frame ``step`` [B] -> logits ready for sampling."""
    logits = penalize_repetition(logits.float(), seen, rules.repetition_penalty)
    too_early = (step < rules.min_new_frames)[:, None]  # [B, 1]
    is_eos = torch.arange(logits.shape[-1], device=logits.device) == rules.eos_id  # [V]
    blocked = rules.suppressed | (too_early & is_eos)  # [B, V]
    return logits.masked_fill(blocked, float("-inf"))


def predict_codes(
    predictor: CodePredictor,
    talker_hidden: torch.Tensor,  # [B, 1, D]
    code0_embed: torch.Tensor,  # [B, 1, D]
    params: SamplerTensors,
    request_keys: torch.Tensor,  # [B]: each request's noise key (noise.seed_keys)
    frame: torch.Tensor,  # [B]: the index of the frame being completed, per request
    caches: Sequence[KVStore] | None,
) -> torch.Tensor:
    """Codebooks 1..G-1 of one frame [B, G-1]. The predictor's cache holds exactly G positions."""
    batch, groups = talker_hidden.shape[0], predictor.num_code_groups
    positions = torch.arange(groups, device=talker_hidden.device).expand(batch, -1)
    x = torch.cat([talker_hidden, code0_embed], dim=1)  # [B, 2, D]
    hidden = predictor(x, positions[:, :2], caches)[:, -1]  # [B, H]
    codes = []
    for j, head in enumerate(predictor.lm_head):
        if j > 0:
            embed = predictor.codec_embedding[j - 1](codes[-1])[:, None]  # [B, 1, D]
            hidden = predictor(embed, positions[:, j + 1 : j + 2], caches)[:, -1]
        codes.append(sample(head(hidden), params, draw_keys(request_keys, frame, j + 1, groups)))
    return torch.stack(codes, dim=-1)
