"""Token selection on the device, without host syncs.

Per-row parameters are tensors, so one call serves a batch of independent requests. Sampling draws with the
exponential-noise trick: argmax(p / E), E ~ Exp(1), is a draw from Categorical(p) (as in gpt-fast), with E a
hash of each row's draw key (``noise.py``), so a request draws the same alone or batched, eager or in a graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .noise import exponential_noise
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
        values = _values(params, predictor)
        return cls(
            do_sample=torch.tensor(values["do_sample"], dtype=torch.bool, device=device),
            temperature=torch.tensor(values["temperature"], dtype=torch.float32, device=device)[:, None],
            top_k=torch.tensor(values["top_k"], dtype=torch.long, device=device),
            top_p=torch.tensor(values["top_p"], dtype=torch.float32, device=device)[:, None],
            **_flags(values),
        )

    def set_row(self, row: int, params: SamplingParams, predictor: bool) -> None:
        """Writes one row's parameters in place (the tensors may be static buffers of a captured graph)."""
        values = {name: value[0] for name, value in _values([params], predictor).items()}
        self.do_sample[row] = values["do_sample"]
        self.temperature[row] = values["temperature"]
        self.top_k[row] = values["top_k"]
        self.top_p[row] = values["top_p"]

    def rows(
        self, start: int, stop: int, params: Sequence[SamplingParams] | None, predictor: bool
    ) -> SamplerTensors:
        """Views of rows [start, stop); their shortcut flags from ``params`` (those rows' values), or, with
        ``None``, the general flags, which give the same tokens for any values (for a captured graph)."""
        flags = (
            _flags(_values(params, predictor))
            if params is not None
            else dict(use_top_p=True, any_sampling=True, shared_top_k=None)
        )
        span = slice(start, stop)
        return SamplerTensors(
            self.do_sample[span], self.temperature[span], self.top_k[span], self.top_p[span], **flags
        )


def _values(params: Sequence[SamplingParams], predictor: bool) -> dict[str, list]:
    prefix = "subtalker_" if predictor else ""
    return {
        name: [getattr(p, prefix + name) for p in params]
        for name in ("do_sample", "temperature", "top_k", "top_p")
    }


def _flags(values: dict[str, list]) -> dict:
    return dict(
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


def sample(logits: torch.Tensor, params: SamplerTensors, keys: torch.Tensor) -> torch.Tensor:
    """[B, V] logits -> [B] token ids: argmax for rows without sampling, a warped draw for the others.

    ``keys`` [B] int64: each row's draw key (``noise.draw_keys``); equal keys give equal draws."""
    greedy = logits.argmax(dim=-1)
    if not params.any_sampling:
        return greedy
    probs = warp(logits, params).softmax(dim=-1)
    noise = exponential_noise(keys, probs.shape[-1])  # > 0 everywhere
    # A removed token (probability 0) scores -1, below every kept one, whatever its noise: never drawn.
    drawn = torch.where(probs > 0, probs / noise, -1.0).argmax(dim=-1)
    return torch.where(params.do_sample, drawn, greedy)


def penalize_repetition(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """Hugging Face's repetition penalty on tokens already generated: seen [B, V] bool, penalty [B, 1]."""
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalized, logits)
