"""Token selection on the device, without host syncs.

Per-row parameters are tensors, so one call serves a batch of independent requests. Sampling draws with the
exponential-noise trick: argmax(p / E), E ~ Exp(1), is a draw from Categorical(p) (as in gpt-fast).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .types import SamplingParams


@dataclass(frozen=True, slots=True)
class SamplerTensors:
    """Per-row parameters: do_sample [B] bool, temperature [B, 1], top_k [B] (0: off), top_p [B, 1]."""

    do_sample: torch.Tensor
    temperature: torch.Tensor
    top_k: torch.Tensor
    top_p: torch.Tensor
    use_top_p: bool  # False when every row has top_p == 1 (the step then skips the sort)
    any_sampling: bool  # False when every row is greedy (the step then skips the warpers and the noise)
    shared_top_k: int | None  # the one top_k of every row (a cheaper topk instead of a sort), else None

    @classmethod
    def build(cls, params: Sequence[SamplingParams], predictor: bool, device: torch.device) -> SamplerTensors:
        prefix = "subtalker_" if predictor else ""
        values = {
            name: [getattr(p, prefix + name) for p in params]
            for name in ("do_sample", "temperature", "top_k", "top_p")
        }
        return cls(
            do_sample=torch.tensor(values["do_sample"], dtype=torch.bool, device=device),
            temperature=torch.tensor(values["temperature"], dtype=torch.float32, device=device)[:, None],
            top_k=torch.tensor(values["top_k"], dtype=torch.long, device=device),
            top_p=torch.tensor(values["top_p"], dtype=torch.float32, device=device)[:, None],
            use_top_p=any(p < 1.0 for p in values["top_p"]),
            any_sampling=any(values["do_sample"]),
            shared_top_k=values["top_k"][0] if len(set(values["top_k"])) == 1 else None,
        )


def warp(logits: torch.Tensor, params: SamplerTensors) -> torch.Tensor:
    """Temperature, then top-k, then top-p, as Hugging Face's warpers: removed tokens get -inf. [B, V]."""
    vocab = logits.shape[-1]
    logits = logits.float() / params.temperature
    if params.shared_top_k is not None:
        if 0 < params.shared_top_k < vocab:
            kth_largest = logits.topk(params.shared_top_k, dim=-1).values[:, -1:]  # [B, 1]
            logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    else:
        k = torch.where(params.top_k > 0, params.top_k.clamp(max=vocab), vocab)  # [B]
        descending = logits.sort(dim=-1, descending=True).values
        kth_largest = descending.gather(-1, (k - 1)[:, None])  # [B, 1]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if params.use_top_p:
        ascending, order = logits.sort(dim=-1)
        cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= 1 - params.top_p
        remove[:, -1] = False  # always keep the most likely token
        logits = logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
    return logits


def sample(logits: torch.Tensor, params: SamplerTensors, generator: torch.Generator | None) -> torch.Tensor:
    """[B, V] logits -> [B] token ids: argmax for rows without sampling, a warped draw for the others."""
    greedy = logits.argmax(dim=-1)
    if not params.any_sampling:
        return greedy
    probs = warp(logits, params).softmax(dim=-1)
    noise = torch.empty_like(probs).exponential_(1.0, generator=generator)
    drawn = (probs / noise).argmax(dim=-1)
    return torch.where(params.do_sample, drawn, greedy)


def penalize_repetition(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """Hugging Face's repetition penalty on tokens already generated: seen [B, V] bool, penalty [B, 1]."""
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalized, logits)
