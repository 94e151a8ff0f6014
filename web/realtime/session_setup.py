"""From a ``session.config`` to what each sentence of the session is planned with.

Everything ``POST /v1/audio/speech`` checks is checked here once, up front, by the same code
(``web.speech.resolve_voice`` and ``plan_request``): the voice (``clone:Name`` included, or an inline
``ref_audio`` clone stored once for the session), the model, the language and the sampling bounds. A
refused config is reported as a ``ProtocolError`` carrying the speech API's own error code
(``voice_not_found``, ``model_not_found``, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from common.contracts import ModelInfo, SynthesisJob
from common.errors import ServiceError
from voice_store.db import DATABASE_UNAVAILABLE
from web.deps import AppState
from web.realtime.protocol import TASK_MODEL_TYPES, ProtocolError, SessionConfig
from web.schemas import SpeechRequest
from web.speech import plan_request, resolve_voice
from web.speech_plan import split_model_name
from web.voices import ResolvedVoice

DESIGNED_VOICE = "alloy"  # VoiceDesign needs no voice (instructions describe it); the planner wants a name
WORD_TIMESTAMPS_UNAVAILABLE = (
    "word timestamps are not available on this server: it has no forced aligner loaded; "
    "leave timestamp_type unset"
)


@dataclass(frozen=True, slots=True)
class SessionSetup:
    """A validated config: sentences are planned from ``config`` with ``model`` and the resolved ``voice``."""

    config: SessionConfig
    model: str
    voice: ResolvedVoice

    def speech_request(self, text: str) -> SpeechRequest:
        return speech_request(self.config, self.model, text)

    def job(self, state: AppState, text: str, *, request_id: str) -> SynthesisJob:
        """The synthesis job of one sentence (raises ``ServiceError`` as ``/v1/audio/speech`` would)."""
        plan = plan_request(state, self.speech_request(text), self.voice, request_id=request_id)
        update: dict[str, object] = {"timestamps": "word"} if wants_words(self.config) else {}
        if self.config.max_new_tokens is not None:
            update["max_new_frames"] = self.config.max_new_tokens
        return plan.job.model_copy(update=update) if update else plan.job


def wants_words(config: SessionConfig) -> bool:
    """``timestamp_type: "word"`` (or vLLM-Omni's ``word_timestamps: true``): word_alignment in audio.done."""
    return config.timestamp_type == "word" or bool(config.word_timestamps)


_SHARED_FIELDS = {
    "instructions", "response_format", "speed", "language", "seed", "temperature", "top_p", "top_k",
    "repetition_penalty", "ref_audio", "ref_text",
}  # fmt: skip


def speech_request(c: SessionConfig, model: str, text: str) -> SpeechRequest:
    """The ``/v1/audio/speech`` request a sentence of this session amounts to (validated like one)."""
    voice = c.voice or (DESIGNED_VOICE if c.task_type == "VoiceDesign" and not c.ref_audio else None)
    return SpeechRequest(
        model=model,
        input=text,
        voice=voice,
        x_vector_only=c.x_vector_only_mode,
        **c.model_dump(include=_SHARED_FIELDS),
    )


def model_for(config: SessionConfig, models: Sequence[ModelInfo], default_model: str) -> str:
    """The model name to plan with: ``model`` (an OpenAI name by default), narrowed by ``task_type``."""
    requested = config.model or "tts-1"
    if config.task_type is None:
        return requested
    wanted = TASK_MODEL_TYPES[config.task_type]
    by_name = {m.name.lower(): m for m in models}
    named = by_name.get(split_model_name(requested)[0].lower())
    if named is not None:
        if named.model_type != wanted:
            raise ProtocolError(
                f"model {named.name} is {named.model_type}; task_type {config.task_type} needs {wanted}",
                "model_mismatch",
                "task_type",
            )
        return requested
    fitting = [m for m in models if m.model_type == wanted]
    if not fitting:
        raise ProtocolError(
            f"no loaded model serves task_type {config.task_type}", "model_unavailable", "task_type"
        )
    preferred = next((m for m in fitting if m.name.lower() == default_model.lower()), fitting[0])
    return preferred.name


async def configure(state: AppState, config: SessionConfig) -> SessionSetup:
    """Validate ``config`` against the loaded models and resolve its voice (stores an inline clone)."""
    dispatcher, settings = state.services.dispatcher, state.services.settings
    if wants_words(config) and settings.aligner_model is None:
        param = "timestamp_type" if config.timestamp_type else "word_timestamps"
        raise ProtocolError(WORD_TIMESTAMPS_UNAVAILABLE, "word_timestamps_unavailable", param)
    try:
        model = model_for(config, dispatcher.models(), settings.default_model)
        probe = speech_request(config, model, "Hello.")
    except ValidationError as e:
        raise ProtocolError(f"invalid session.config: {e.errors()[0]['msg']}", "invalid_config") from e
    try:
        voice = await resolve_voice(state, probe)
        setup = SessionSetup(config, model, voice)
        setup.job(state, "Hello.", request_id="session-config-check")
    except ServiceError as e:
        raise ProtocolError(e.message, e.code, e.param) from e
    except DATABASE_UNAVAILABLE as e:  # a saved voice could not be looked up: retry later
        raise ProtocolError("the database is unavailable; retry shortly", "database_unavailable") from e
    return setup
