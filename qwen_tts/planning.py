"""Turns a ``SynthesisRequest`` into what generation needs, after validating it against the model.

The rules follow the official ``generate_custom_voice``, ``generate_voice_design`` and
``generate_voice_clone``: each model type has its own required fields and its own default text layout
(CustomVoice and VoiceDesign lay the whole text into the prompt; Base clones stream the text in as frames are
generated). Where the official package silently drops a field, the plan lists it in ``ignored``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ModelConfig
from .errors import (
    EmptyTextError,
    EngineInputError,
    MissingInstructError,
    UnknownLanguageError,
    UnknownSpeakerError,
    UnsupportedRequestError,
)
from .model import Talker
from .prompt import (
    InContextReference,
    TalkerPrompt,
    assistant_text,
    build_talker_prompt,
    instruct_text,
    reference_text,
)
from .types import SynthesisRequest

# The official generate_* APIs' default `non_streaming_mode`, by model type.
NON_STREAMING_TEXT = {"custom_voice": True, "voice_design": True, "base": False}


@dataclass(frozen=True, slots=True)
class Plan:
    prompt: TalkerPrompt
    ref_codes: torch.Tensor | None  # [frames, G]: decoded ahead of the new frames, then trimmed away
    ignored: tuple[str, ...]


def follows_instruct(config: ModelConfig) -> bool:
    """Whether ``instruct`` reaches the model: VoiceDesign, and CustomVoice except the 0.6B one (the official
    ``generate_custom_voice`` tests ``tts_model_size in "0b6"`` and drops it); Base models take none."""
    if config.tts_model_type == "custom_voice":
        return config.tts_model_size not in "0b6"
    return config.tts_model_type == "voice_design"


def _names(values) -> str:
    return ", ".join(sorted(values))


def _language_id(config: ModelConfig, language: str, speaker: str | None) -> int | None:
    language = (language or "auto").strip().lower()
    if language not in config.languages:
        raise UnknownLanguageError(f"unknown language {language!r}; valid: {_names(config.languages)}")
    language_id = None if language == "auto" else config.talker.codec_language_id[language]
    dialect = config.talker.spk_is_dialect.get(speaker) if speaker else None
    if dialect and language in ("chinese", "auto"):  # a dialect speaker speaks its dialect for Chinese text
        language_id = config.talker.codec_language_id[dialect]
    return language_id


def plan_request(request: SynthesisRequest, config: ModelConfig, talker: Talker, tokenize) -> Plan:
    """Validates ``request`` and builds the talker prompt. ``tokenize(str) -> LongTensor [1, n]``."""
    if not request.text or not request.text.strip():
        raise EmptyTextError("text is empty")
    model_type = config.tts_model_type
    instruct = request.instruct if request.instruct and request.instruct.strip() else None
    speaker = request.speaker.strip().lower() if request.speaker and request.speaker.strip() else None
    ignored: list[str] = []
    speaker_embed = None
    reference = None
    ref_codes = None
    device = talker.codec_embedding.weight.device

    if model_type != "base" and request.voice_clone is not None:
        raise UnsupportedRequestError(f"voice cloning needs a Base model; this is a {model_type} model")
    if model_type == "custom_voice":
        if speaker is None or speaker not in config.talker.spk_id:
            given = "no speaker" if speaker is None else f"unknown speaker {speaker!r}"
            raise UnknownSpeakerError(f"{given}; valid: {_names(config.talker.spk_id)}")
        speaker_embed = talker.codec_embedding(torch.tensor(config.talker.spk_id[speaker], device=device))
        if instruct is not None and not follows_instruct(config):
            ignored.append("instruct")
            instruct = None
    elif model_type == "voice_design":
        if instruct is None:
            raise MissingInstructError("a VoiceDesign model needs an instruct describing the voice")
        if speaker is not None:
            ignored.append("speaker")
    else:  # base
        clone = request.voice_clone
        if clone is None:
            raise UnsupportedRequestError(
                "a Base model clones a voice: pass voice_clone (create_voice_clone_prompt)"
            )
        for name, value in (("speaker", speaker), ("instruct", instruct)):
            if value is not None:
                ignored.append(name)
        instruct = None
        hidden = config.talker.transformer.hidden_size
        if clone.speaker_embedding.shape != (hidden,):
            raise EngineInputError(
                f"voice_clone.speaker_embedding has shape {clone.speaker_embedding.shape}, this model needs "
                f"({hidden},)"
            )
        dtype = talker.codec_embedding.weight.dtype
        speaker_embed = torch.as_tensor(clone.speaker_embedding).to(device=device, dtype=dtype)
        if not clone.x_vector_only:
            ref_codes = _checked_codes(clone.ref_codes, config).to(device)
            reference = InContextReference(tokenize(reference_text(clone.ref_text)).to(device), ref_codes)
        speaker = None

    language_id = _language_id(config, request.language, speaker)
    prompt = build_talker_prompt(
        talker,
        config,
        tokenize(assistant_text(request.text)).to(device),
        language_id=language_id,
        speaker_embed=speaker_embed,
        instruct_ids=tokenize(instruct_text(instruct)).to(device) if instruct is not None else None,
        reference=reference,
        non_streaming_text=NON_STREAMING_TEXT[model_type],
    )
    return Plan(prompt, ref_codes, tuple(ignored))


def _checked_codes(codes, config: ModelConfig) -> torch.Tensor:
    codes = torch.as_tensor(codes, dtype=torch.long)
    groups = config.talker.num_code_groups
    if codes.ndim != 2 or codes.shape[1] != groups or codes.shape[0] == 0:
        raise EngineInputError(
            f"voice_clone.ref_codes must have shape [frames, {groups}], got {tuple(codes.shape)}"
        )
    if codes.min() < 0 or codes.max() >= config.code_predictor.vocab_size:
        raise EngineInputError(f"voice_clone.ref_codes must lie in [0, {config.code_predictor.vocab_size})")
    return codes
