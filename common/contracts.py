"""Plain data that crosses the web ↔ worker boundary (no torch; JSON-serialisable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SAMPLE_RATE = 24_000
"""Every model of the family emits mono audio at 24 kHz; chunk streams carry it as s16le PCM."""

ModelType = Literal["custom_voice", "voice_design", "base"]


class SamplingOverrides(BaseModel):
    """Per-request sampling knobs; ``None`` keeps the model's generation_config default."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None


class SynthesisJob(BaseModel):
    """One speech request as the engine side sees it: text pieces synthesized in order into one stream."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    model: str = Field(description="name of a loaded model (a key of the configured models map)")
    pieces: tuple[str, ...] = Field(min_length=1)
    language: str = "auto"
    speaker: str | None = None
    instruct: str | None = None
    voice_id: str | None = Field(default=None, description="saved voice profile for a Base-model clone")
    sampling: SamplingOverrides = SamplingOverrides()
    seed: int | None = None
    max_new_frames: int | None = Field(
        default=None, ge=1, description="per-piece frame cap below the server's"
    )
    timestamps: Literal["word"] | None = Field(
        default=None, description="word: each piece's word timings follow its audio on the chunk stream"
    )


class ModelInfo(BaseModel):
    """What the web layer needs to know about a loaded model to validate and route a request."""

    model_config = ConfigDict(frozen=True)

    name: str
    model_type: ModelType
    speakers: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    supports_instruct: bool = True
