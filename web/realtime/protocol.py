"""The messages of the realtime protocol (vLLM-Omni's field names) and the events the server sends.

Client → server text frames are JSON objects with a ``type``: ``session.config`` (validated here: an unknown
field is refused by name), ``input.text``, ``input.done`` and ``session.close``. Server → client events are
built by the small functions below so their shapes live in one place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from web.schemas import Language, RepetitionPenalty, Seed, Temperature, TopK, TopP

TaskType = Literal["CustomVoice", "VoiceDesign", "Base"]
StreamFormat = Literal["pcm", "wav", "mp3", "opus"]
TASK_MODEL_TYPES = {"CustomVoice": "custom_voice", "VoiceDesign": "voice_design", "Base": "base"}


class SessionConfig(BaseModel):
    """``session.config``: the voice and audio settings of the turns that follow (sticky until replaced)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["session.config"] = "session.config"
    voice: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    task_type: TaskType | None = None
    response_format: StreamFormat = "pcm"
    stream_audio: bool = True
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, max_length=4096)
    language: Language = None
    max_new_tokens: int | None = Field(default=None, ge=1, description="cap on codec frames per sentence")
    initial_codec_chunk_frames: int | None = Field(default=None, ge=1, le=64)
    x_vector_only_mode: bool | None = None
    ref_audio: str | None = None
    ref_text: str | None = Field(default=None, max_length=2000)
    timestamp_type: Literal["word"] | None = None
    # vLLM-Omni's other spellings: sentences are this server's only split, word_timestamps=true is "word"
    split_granularity: Literal["sentence"] | None = None
    word_timestamps: bool | None = None
    api_key: str | None = Field(
        default=None, max_length=400, description="for clients that cannot set headers"
    )
    seed: Seed = None
    temperature: Temperature = None
    top_p: TopP = None
    top_k: TopK = None
    repetition_penalty: RepetitionPenalty = None


class InputText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["input.text"]
    text: str


class Bare(BaseModel):
    """``input.done`` and ``session.close`` carry nothing but their type."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["input.done", "session.close"]


class ProtocolError(Exception):
    """A client message the server refuses; ``code`` names the reason in the error event."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


ClientMessage = SessionConfig | InputText | Bare
_MESSAGE_TYPES: dict[str, type[BaseModel]] = {
    "session.config": SessionConfig,
    "input.text": InputText,
    "input.done": Bare,
    "session.close": Bare,
}


def parse_message(data: Any) -> ClientMessage:
    """A decoded JSON frame → its message; ``ProtocolError`` says what is wrong (unknown fields by name)."""
    if not isinstance(data, dict):
        raise ProtocolError("messages must be JSON objects", "invalid_message")
    kind = data.get("type")
    model = _MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(_MESSAGE_TYPES)
        raise ProtocolError(f"unknown message type {kind!r}; expected one of {known}", "unknown_type", "type")
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as e:
        raise _refusal(kind, e) from e


def _refusal(kind: str, error: ValidationError) -> ProtocolError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "extra_forbidden":
        return ProtocolError(f"unknown field {field!r} in {kind}", "unknown_field", field)
    return ProtocolError(f"invalid {kind}: {field}: {first['msg']}", "invalid_config", field)


def error_event(message: str, code: str, param: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "message": message, "code": code}
    if param is not None:
        event["param"] = param
    return event


def audio_start(index: int, text: str, fmt: str, sample_rate: int) -> dict[str, Any]:
    return {
        "type": "audio.start",
        "sentence_index": index,
        "sentence_text": text,
        "format": fmt,
        "sample_rate": sample_rate,
    }


def audio_done(index: int, result: SentenceResult) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "audio.done", "sentence_index": index}
    if result.error is not None:
        event["error"] = result.error
    if result.word_alignment is not None:
        event["timestamp_info"] = {"word_alignment": result.word_alignment.model_dump()}
    return event


def session_done(total_sentences: int) -> dict[str, Any]:
    return {"type": "session.done", "total_sentences": total_sentences}


class WordAlignment(BaseModel):
    """Word timings relative to the sentence's first sample (``timestamp_info.word_alignment``)."""

    words: list[str]
    word_start_times_seconds: list[float]
    word_end_times_seconds: list[float]


class SentenceResult(BaseModel):
    """How one sentence ended: its error (``{"message", "code"}``) or, once the synthesis stream carries word
    timings (issue 18's aligner), their alignment; both ``None`` for a plain success."""

    error: dict[str, str] | None = None
    word_alignment: WordAlignment | None = None
    audio_bytes: int = 0
