"""The talker's input sequence for each model type, laid out as the official ``generate()`` lays it out.

Sequence (one request): [instruct] + role + codec prefix + the text, where
- instruct: ``<|im_start|>user\\n{instruct}<|im_end|>\\n`` as text embeddings (CustomVoice 1.7B, VoiceDesign);
- role: ``<|im_start|>assistant\\n`` as text embeddings;
- codec prefix: [think, think_bos, language, think_eos] (or [nothink, think_bos, think_eos] for "auto"),
  then the speaker embedding if any, then [pad, bos] — each summed with tts_pad (tts_bos on the last but one);
- text, in one of two layouts:
  * streaming text (``non_streaming_text=False``): only the first text token enters the prompt (on codec
    bos); the rest plus tts_eos are "trailing text", added one row per generated frame;
  * non-streaming text: all text tokens plus tts_eos (on codec pad), then tts_pad on codec bos.
- in-context clone (Base): instead of the text part, reference text + text + tts_eos aligned with codec bos +
  the reference frames (streaming layout: overlapping part summed, the excess text trails).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ModelConfig
from .model import Talker

ROLE_TOKENS = 3  # "<|im_start|>", "assistant", "\n"
TEXT_SUFFIX_TOKENS = 5  # "<|im_end|>", "\n", "<|im_start|>", "assistant", "\n"
REF_SUFFIX_TOKENS = 2  # "<|im_end|>", "\n"


def assistant_text(text: str) -> str:
    return f"<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n"


def reference_text(text: str) -> str:
    return f"<|im_start|>assistant\n{text}<|im_end|>\n"


def instruct_text(instruct: str) -> str:
    return f"<|im_start|>user\n{instruct}<|im_end|>\n"


@dataclass(frozen=True, slots=True)
class TalkerPrompt:
    embeds: torch.Tensor  # [1, T, D]
    text_rows: torch.Tensor  # [1, L + 1, D]: trailing text rows, then tts_pad
    # The leading positions that depend on the voice alone (instruct, role, codec prefix up to codec pad),
    # not on the text: the same for every request of a voice, so their KV can be reused (prefix_cache.py).
    prefix_len: int = 0

    @property
    def length(self) -> int:
        return self.embeds.shape[1]


@dataclass(frozen=True, slots=True)
class InContextReference:
    text_ids: torch.Tensor  # [1, n] tokens of reference_text(ref_text)
    codes: torch.Tensor  # [frames, G]


def build_talker_prompt(
    talker: Talker,
    config: ModelConfig,
    text_ids: torch.Tensor,  # [1, n] tokens of assistant_text(text)
    *,
    language_id: int | None,
    speaker_embed: torch.Tensor | None,  # [D]
    instruct_ids: torch.Tensor | None,  # [1, m] tokens of instruct_text(instruct)
    reference: InContextReference | None,
    non_streaming_text: bool,
) -> TalkerPrompt:
    cfg = config.talker
    device = text_ids.device

    def codec(ids: list[int]) -> torch.Tensor:  # [1, len(ids), D]
        return talker.codec_embedding(torch.tensor([ids], dtype=torch.long, device=device))

    special = torch.tensor(
        [[config.tts_bos_token_id, config.tts_eos_token_id, config.tts_pad_token_id]], device=device
    )
    tts_bos, tts_eos, tts_pad = talker.embed_text(special).chunk(3, dim=1)  # 3 x [1, 1, D]

    if language_id is None:
        prefix_ids = [cfg.codec_nothink_id, cfg.codec_think_bos_id, cfg.codec_think_eos_id]
    else:
        prefix_ids = [cfg.codec_think_id, cfg.codec_think_bos_id, language_id, cfg.codec_think_eos_id]
    codec_parts = [codec(prefix_ids)]
    if speaker_embed is not None:
        codec_parts.append(speaker_embed.view(1, 1, -1))
    codec_parts.append(codec([cfg.codec_pad_id, cfg.codec_bos_id]))
    codec_prefix = torch.cat(codec_parts, dim=1)  # [1, P, D], ends with codec bos

    role = talker.embed_text(text_ids[:, :ROLE_TOKENS])
    text_side = torch.cat([tts_pad.expand(-1, codec_prefix.shape[1] - 2, -1), tts_bos], dim=1)
    parts = [role, text_side + codec_prefix[:, :-1]]
    text_body = text_ids[:, ROLE_TOKENS:-TEXT_SUFFIX_TOKENS]

    prefix_len = role.shape[1] + codec_prefix.shape[1] - 1  # parts[0] and parts[1]
    if reference is not None:
        icl, trailing, fixed = _in_context_part(
            talker,
            cfg.codec_bos_id,
            cfg.codec_pad_id,
            codec,
            text_body,
            reference,
            tts_eos,
            tts_pad,
            non_streaming_text,
        )
        parts.append(icl)
        prefix_len += fixed  # the reference text's positions come before the new text's
    elif non_streaming_text:
        text_and_eos = torch.cat([talker.embed_text(text_body), tts_eos], dim=1)
        parts.append(text_and_eos + codec([cfg.codec_pad_id] * text_and_eos.shape[1]))
        parts.append(tts_pad + codec([cfg.codec_bos_id]))
        trailing = tts_pad
    else:
        first = text_ids[:, ROLE_TOKENS : ROLE_TOKENS + 1]
        parts.append(talker.embed_text(first) + codec_prefix[:, -1:])
        rest = text_ids[:, ROLE_TOKENS + 1 : -TEXT_SUFFIX_TOKENS]
        trailing = torch.cat([talker.embed_text(rest), tts_eos], dim=1)

    if instruct_ids is not None:
        parts.insert(0, talker.embed_text(instruct_ids))
        prefix_len += instruct_ids.shape[1]
    return TalkerPrompt(torch.cat(parts, dim=1), torch.cat([trailing, tts_pad], dim=1), prefix_len)


def _in_context_part(
    talker, bos_id, pad_id, codec, text_body, reference, tts_eos, tts_pad, non_streaming_text
):
    """The in-context part, its trailing text, and how many of its leading positions do not depend on the
    new text (those of the reference text: it comes first)."""
    ref_body = reference.text_ids[:, ROLE_TOKENS:-REF_SUFFIX_TOKENS]
    text = talker.embed_text(torch.cat([ref_body, text_body], dim=-1))
    text = torch.cat([text, tts_eos], dim=1)  # [1, Lt, D]
    frames = talker.embed_frames(reference.codes)[None]  # [1, F, D]
    codec_side = torch.cat([codec([bos_id]), frames], dim=1)  # [1, F + 1, D]
    text_len, codec_len, ref_len = text.shape[1], codec_side.shape[1], ref_body.shape[1]
    if non_streaming_text:
        icl = torch.cat([text + codec([pad_id] * text_len), codec_side + tts_pad], dim=1)
        return icl, tts_pad, ref_len
    if text_len > codec_len:
        return text[:, :codec_len] + codec_side, text[:, codec_len:], min(ref_len, codec_len)
    padded = torch.cat([text, tts_pad.expand(-1, codec_len - text_len, -1)], dim=1)
    return padded + codec_side, tts_pad, ref_len
