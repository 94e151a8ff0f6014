"""Frame-by-frame generation as free functions named after their phase.

One frame: the talker step gives codebook-0 logits; the code predictor runs ``num_code_groups - 1`` steps to
fill codebooks 1..G-1; the next talker input is the sum of the frame's G codebook embeddings plus the next
row of trailing text (or tts_pad once the text is used up). Shapes are static and positions are tensors, so
``decode_one_frame`` can be captured whole in a CUDA graph; the host only checks for end of speech every
block of frames (the overshoot is trimmed): ``first_block_frames`` for the first block (a short first block
means early first audio), ``block_frames`` after that.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .layers import KVCache
from .model import CodePredictor, Talker
from .sampling import SamplerTensors, penalize_repetition, sample


@dataclass(frozen=True, slots=True)
class TalkerLogitsRules:
    """What shapes codebook-0 logits before sampling: repetition penalty, min length, suppressed ids."""

    repetition_penalty: torch.Tensor  # [B, 1]
    min_new_frames: torch.Tensor  # [B]
    suppressed: torch.Tensor  # [V] bool: control ids a frame may not start with (EOS excluded)
    eos_id: int


@dataclass(slots=True)
class RequestCaches:
    """One request's KV caches: the talker's grows with the request; the predictor's is one frame long."""

    talker: list[KVCache]
    predictor: list[KVCache]
    max_len: int  # the talker cache never grows beyond this

    @classmethod
    def allocate(cls, talker: Talker, batch: int, initial_len: int, max_len: int) -> RequestCaches:
        predictor = talker.code_predictor
        return cls(
            talker=talker.transformer.new_caches(batch, min(initial_len, max_len)),
            predictor=predictor.transformer.new_caches(batch, predictor.num_code_groups),
            max_len=max_len,
        )

    def reserve(self, length: int) -> None:
        """Makes room for positions [0, length): doubles the talker caches (at most to max_len)."""
        capacity = self.talker[0].max_len
        if length > capacity:
            new_len = min(max(2 * capacity, length), self.max_len)
            for cache in self.talker:
                cache.resize(new_len)


@dataclass(frozen=True, slots=True)
class FrameBlock:
    """Codes of consecutive frames [n, G] of one request (n may be 0 on the last block)."""

    codes: torch.Tensor
    finished: bool  # end of speech follows these frames
    is_last: bool  # no block follows (end of speech, or max_new_frames reached)


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


def prefill(
    talker: Talker, embeds: torch.Tensor, caches: Sequence[KVCache] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt [B, T, D] through the talker -> last-position logits [B, V] and hidden [B, 1, D]."""
    input_pos = torch.arange(embeds.shape[1], device=embeds.device).expand(embeds.shape[0], -1)
    logits, hidden = talker(embeds, input_pos, caches)
    return logits[:, -1], hidden[:, -1:]


def predict_codes(
    predictor: CodePredictor,
    talker_hidden: torch.Tensor,  # [B, 1, D]
    code0_embed: torch.Tensor,  # [B, 1, D]
    params: SamplerTensors,
    generator: torch.Generator | None,
    caches: Sequence[KVCache] | None,
) -> torch.Tensor:
    """Codebooks 1..G-1 of one frame [B, G-1]. The predictor's cache holds exactly G positions."""
    batch = talker_hidden.shape[0]
    positions = torch.arange(predictor.num_code_groups, device=talker_hidden.device).expand(batch, -1)
    x = torch.cat([talker_hidden, code0_embed], dim=1)  # [B, 2, D]
    hidden = predictor(x, positions[:, :2], caches)[:, -1]  # [B, H]
    codes = []
    for j, head in enumerate(predictor.lm_head):
        if j > 0:
            embed = predictor.codec_embedding[j - 1](codes[-1])[:, None]  # [B, 1, D]
            hidden = predictor(embed, positions[:, j + 1 : j + 2], caches)[:, -1]
        codes.append(sample(head(hidden), params, generator))
    return torch.stack(codes, dim=-1)


def decode_one_frame(
    talker: Talker,
    past_hidden: torch.Tensor,  # [B, 1, D]: the talker's hidden state that predicted code0
    code0: torch.Tensor,  # [B]
    text_embed: torch.Tensor,  # [B, 1, D]: trailing text row (or tts_pad) for this frame
    input_pos: torch.Tensor,  # [B, 1]
    predictor_params: SamplerTensors,
    generator: torch.Generator | None,
    caches: RequestCaches,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Completes a frame and runs the talker on it: (codes [B, G], next logits [B, V], hidden [B, 1, D])."""
    code0_embed = talker.codec_embedding(code0)[:, None]
    rest = predict_codes(
        talker.code_predictor, past_hidden, code0_embed, predictor_params, generator, caches.predictor
    )
    codes = torch.cat([code0[:, None], rest], dim=-1)  # [B, G]
    x = talker.embed_frames(codes)[:, None] + text_embed
    logits, hidden = talker(x, input_pos, caches.talker)
    return codes, logits[:, -1], hidden


def generate_frames(
    talker: Talker,
    prompt_embeds: torch.Tensor,  # [1, T, D]
    text_rows: torch.Tensor,  # [1, L + 1, D]: trailing text rows, then tts_pad (used for every later frame)
    talker_params: SamplerTensors,
    predictor_params: SamplerTensors,
    rules: TalkerLogitsRules,
    max_new_frames: int,
    generator: torch.Generator | None,
    caches: RequestCaches,
    block_frames: int = 4,
    first_block_frames: int = 1,
) -> Iterator[FrameBlock]:
    """Generates up to ``max_new_frames`` frames, yielding them in blocks as end of speech is checked.

    All state lives in the arguments (``caches`` belongs to this request), so several generators can be
    advanced in turn on one model.
    """
    device = prompt_embeds.device
    prompt_len = prompt_embeds.shape[1]
    num_text_rows = text_rows.shape[1]
    seen = torch.zeros(1, talker.codec_head.out_features, dtype=torch.bool, device=device)
    step = torch.zeros(1, dtype=torch.long, device=device)

    caches.reserve(prompt_len)
    logits, hidden = prefill(talker, prompt_embeds, caches.talker)
    code0 = sample(process_talker_logits(logits, seen, step, rules), talker_params, generator)
    block: list[torch.Tensor] = []
    for frame in range(max_new_frames):
        seen.scatter_(1, code0[:, None], True)
        step += 1
        caches.reserve(prompt_len + frame + 1)
        input_pos = torch.full((1, 1), prompt_len + frame, dtype=torch.long, device=device)
        text = text_rows[:, min(frame, num_text_rows - 1)][:, None]
        codes, logits, hidden = decode_one_frame(
            talker, hidden, code0, text, input_pos, predictor_params, generator, caches
        )
        block.append(codes)
        code0 = sample(process_talker_logits(logits, seen, step, rules), talker_params, generator)
        is_last = frame == max_new_frames - 1
        if len(block) == (block_frames if frame >= first_block_frames else first_block_frames) or is_last:
            codes_block = torch.cat(block)  # [n, G]
            block = []
            # After the last frame, the next code0 tells whether the speech ended right there.
            starts = torch.cat([codes_block[:, 0], code0]) if is_last else codes_block[:, 0]
            is_eos = (starts == rules.eos_id).tolist()  # the one host sync per block
            if True in is_eos:
                yield FrameBlock(codes_block[: is_eos.index(True)], finished=True, is_last=True)
                return
            yield FrameBlock(codes_block, finished=False, is_last=is_last)
