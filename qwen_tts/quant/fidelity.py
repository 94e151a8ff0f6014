"""How close a quantized model's logits are to full precision's: SNR in dB and top-1 agreement.

Teacher-forced: both models read the same inputs (no sampling feeds back), so the figures measure the
quantization error alone. Used by the tests (stated bounds) and ``bench/quant_fidelity.py`` (released shapes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from . import quantize_model


@dataclass(frozen=True)
class Fidelity:
    snr_db: float  # 10 log10(|ref|^2 / |quantized - ref|^2) over all logits
    top1: float  # share of positions whose argmax agrees

    def __str__(self) -> str:
        return f"SNR {self.snr_db:.1f} dB, top-1 {100 * self.top1:.1f} %"


def compare_logits(ref: torch.Tensor, out: torch.Tensor) -> Fidelity:
    """``ref`` and ``out`` [..., V]."""
    ref, out = ref.double(), out.double()
    noise = (out - ref).pow(2).sum().clamp(min=1e-300)
    snr = 10 * torch.log10(ref.pow(2).sum() / noise)
    top1 = (ref.argmax(-1) == out.argmax(-1)).double().mean()
    return Fidelity(float(snr), float(top1))


@torch.inference_mode()
def talker_logits(model: nn.Module, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced logits over a sequence of frames ``codes`` [B, T, G]: the talker's codebook-0 logits
    [B, T, V] and the code predictor's logits for codebooks 1..G-1 [B, T, G-1, V], its input being the
    talker's hidden state and the frame's own codes (as in generation)."""
    talker = model.talker
    embeds = talker.embed_frames(codes)  # [B, T, D]
    positions = torch.arange(codes.shape[1])[None].expand(codes.shape[0], -1)
    logits, hidden = talker(embeds, positions)
    predictor = talker.code_predictor
    batch, frames, groups = codes.shape
    parts = [hidden.reshape(batch * frames, 1, -1), talker.codec_embedding(codes[..., :1]).flatten(0, 1)]
    parts += [
        predictor.codec_embedding[j](codes[..., j + 1 : j + 2]).flatten(0, 1) for j in range(groups - 2)
    ]
    seq = torch.cat(parts, dim=1)  # [B*T, G, D]
    out = predictor(seq, torch.arange(groups)[None].expand(seq.shape[0], -1))
    heads = [head(out[:, j + 1]) for j, head in enumerate(predictor.lm_head)]  # each [B*T, V]
    return logits, torch.stack(heads, dim=1).view(batch, frames, groups - 1, -1)


def model_fidelity(model: nn.Module, codes: torch.Tensor, mode: str = "int8", kernel: str | None = None):
    """(talker, code predictor) ``Fidelity`` of ``model`` quantized (a copy) against ``model`` itself."""
    quantized = quantize_model(copy.deepcopy(model), mode, kernel)
    ref_talker, ref_predictor = talker_logits(model, codes)
    q_talker, q_predictor = talker_logits(quantized, codes)
    return compare_logits(ref_talker, q_talker), compare_logits(ref_predictor, q_predictor)
