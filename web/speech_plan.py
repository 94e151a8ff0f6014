"""From a validated ``SpeechRequest`` to a ``SynthesisJob``: model routing, voice and language checks.

Model routing. ``model`` is an OpenAI name (tts-1, tts-1-hd, gpt-4o-mini-tts, qwen3-tts) or the name of a
loaded model, optionally with a ``-<lang>`` suffix that sets the language. An OpenAI name means "the default
model", switched to a loaded model of the right type when the voice needs it: a saved voice needs a Base
model, a built-in speaker a CustomVoice model. A VoiceDesign model uses ``instructions`` as the voice
description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from common.contracts import ModelInfo, SamplingOverrides, SynthesisJob
from common.errors import InvalidRequest, Unavailable
from common.text import normalize_input, split_pieces
from web.schemas import SpeechRequest
from web.voices import BuiltinVoice, ResolvedVoice, SavedVoice

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "qwen3-tts")
LANGUAGE_CODES = {
    "en": "english",
    "de": "german",
    "zh": "chinese",
    "ja": "japanese",
    "ko": "korean",
    "fr": "french",
    "es": "spanish",
    "ru": "russian",
    "pt": "portuguese",
    "it": "italian",
}

StreamMode = Literal["none", "audio", "sse"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_input_chars: int
    max_piece_chars: int


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    job: SynthesisJob
    model: ModelInfo
    response_format: str
    speed: float
    stream_mode: StreamMode
    input_chars: int
    instructions_ignored: str | None  # why, when the model ignores the instructions given


def split_model_name(model: str) -> tuple[str, str | None]:
    """``tts-1-de`` → (``tts-1``, ``german``); names without a known suffix are returned whole."""
    base, _, suffix = model.strip().rpartition("-")
    if base and suffix.lower() in LANGUAGE_CODES:
        return base, LANGUAGE_CODES[suffix.lower()]
    return model.strip(), None


def stream_mode_of(request: SpeechRequest) -> StreamMode:
    """``stream`` unset streams ``stream_format: audio`` and raw ``pcm`` (no container to finish, so the
    bytes are the same either way): OpenAI's API streams its body, and clients such as Pipecat's OpenAI TTS
    service read ``pcm`` as it arrives without asking for a stream. ``stream: false`` always buffers."""
    if request.stream_format == "sse":
        return "sse"
    if request.stream is None:
        return "audio" if request.stream_format == "audio" or request.response_format == "pcm" else "none"
    return "audio" if request.stream else "none"


def normalized_text(text: str, limits: Limits) -> str:
    normalized = normalize_input(text)
    if not normalized:
        raise InvalidRequest("input must contain some text", param="input", code="empty_input")
    if len(normalized) > limits.max_input_chars:
        raise InvalidRequest(
            f"input is {len(normalized)} characters long; the limit is {limits.max_input_chars}",
            param="input",
            code="input_too_long",
        )
    return normalized


def choose_model(
    requested: str, voice: ResolvedVoice, models: Sequence[ModelInfo], default: str
) -> ModelInfo:
    if not models:
        raise Unavailable("no model is loaded yet")
    by_name = {m.name.lower(): m for m in models}
    if requested.lower() not in OPENAI_MODELS:
        if (model := by_name.get(requested.lower())) is None:
            names = ", ".join([*OPENAI_MODELS, *(m.name for m in models)])
            raise InvalidRequest(
                f"unknown model {requested!r}; available: {names}", param="model", code="model_not_found"
            )
        return model
    wanted = "base" if isinstance(voice, SavedVoice) else "custom_voice"
    preferred = by_name.get(default.lower())
    # a VoiceDesign default serves built-in voice names too (the voice comes from the instructions)
    serves_builtin = (
        wanted == "custom_voice" and preferred is not None and preferred.model_type == "voice_design"
    )
    if preferred is not None and (preferred.model_type == wanted or serves_builtin):
        return preferred
    for model in models:
        if model.model_type == wanted:
            return model
    kind = (
        "a saved (cloned) voice needs a Base model"
        if wanted == "base"
        else "built-in voices need a CustomVoice model"
    )
    raise InvalidRequest(
        f"no loaded model can serve this voice: {kind}", param="voice", code="model_unavailable"
    )


def _speaker(voice: BuiltinVoice, model: ModelInfo) -> str:
    by_lower = {s.lower(): s for s in model.speakers}
    if (speaker := by_lower.get(voice.speaker.lower())) is None:
        raise InvalidRequest(
            f"unknown voice {voice.requested!r} for model {model.name}; use an OpenAI voice name, one of "
            f"{', '.join(model.speakers)}, or clone:Name",
            param="voice",
            code="voice_not_found",
        )
    return speaker


def _language(requested: str | None, from_model: str | None, model: ModelInfo) -> str:
    raw = (requested or from_model or "auto").strip().lower()
    language = LANGUAGE_CODES.get(raw, raw)
    known = {lang.lower() for lang in model.languages}
    if language != "auto" and known and language not in known:
        raise InvalidRequest(
            f"unknown language {requested or from_model!r}; use auto or one of {', '.join(sorted(known))}",
            param="language",
            code="unsupported_language",
        )
    return language


def plan_speech(
    request: SpeechRequest,
    voice: ResolvedVoice,
    *,
    models: Sequence[ModelInfo],
    default_model: str,
    limits: Limits,
    request_id: str,
) -> SpeechPlan:
    text = normalized_text(request.input, limits)
    requested_model, language_from_model = split_model_name(request.model)
    model = choose_model(requested_model, voice, models, default_model)
    instructions = (request.instructions or "").strip() or None
    speaker = None
    if model.model_type == "voice_design":
        if instructions is None:
            raise InvalidRequest(
                f"model {model.name} designs the voice from `instructions`; describe the voice there",
                param="instructions",
            )
    elif isinstance(voice, BuiltinVoice):
        if model.model_type != "custom_voice":
            raise InvalidRequest(
                f"model {model.name} clones saved voices; use voice clone:Name", param="voice"
            )
        speaker = _speaker(voice, model)
    elif model.model_type != "base":
        raise InvalidRequest(f"model {model.name} cannot use a saved voice; use a Base model", param="model")
    ignored = None
    if instructions is not None and not model.supports_instruct:
        ignored = f"{model.name} ({model.model_type}) does not follow instructions"
    language = _language(request.language, language_from_model, model)
    job = SynthesisJob(
        request_id=request_id,
        model=model.name,
        pieces=tuple(split_pieces(text, max_chars=limits.max_piece_chars, language=language)),
        language=language,
        speaker=speaker,
        instruct=None if ignored else instructions,
        voice_id=voice.id if isinstance(voice, SavedVoice) else None,
        sampling=SamplingOverrides(
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            repetition_penalty=request.repetition_penalty,
        ),
        seed=request.seed,
        timestamps=request.timestamps,
    )
    return SpeechPlan(
        job=job,
        model=model,
        response_format=request.response_format,
        speed=request.speed,
        stream_mode=stream_mode_of(request),
        input_chars=len(text),
        instructions_ignored=ignored,
    )
