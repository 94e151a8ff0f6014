"""Request and response bodies of the speech API (OpenAI's shapes plus our documented extensions)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

# The generation extensions that /v1/audio/speech and /v1/jobs both take, bounded in one place
Language = Annotated[str | None, Field(max_length=40)]
Seed = Annotated[int | None, Field(ge=0, le=2**63 - 1)]
Temperature = Annotated[float | None, Field(gt=0.0, le=5.0, allow_inf_nan=False)]
TopP = Annotated[float | None, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
TopK = Annotated[int | None, Field(ge=1, le=100_000)]
RepetitionPenalty = Annotated[float | None, Field(gt=0.0, le=10.0, allow_inf_nan=False)]


class VoiceObject(BaseModel):
    """``{"id": ...}``: a saved voice id, a saved voice name, or a built-in voice."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech``. Unknown fields are ignored, as OpenAI clients add their own."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(default="tts-1", min_length=1, max_length=100)
    input: str
    voice: str | VoiceObject | None = Field(
        default=None, description="OpenAI voice, native speaker, clone:Name or {id}; not with ref_audio"
    )
    instructions: str | None = Field(default=None, max_length=4096)
    response_format: ResponseFormat = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0, allow_inf_nan=False)
    stream: bool | None = Field(default=None, description="extension: stream audio as it is generated")
    stream_format: Literal["audio", "sse"] | None = None
    timestamps: Literal["word"] | None = Field(
        default=None,
        description='extension, with stream_format "sse": speech.audio.words events (text, start, end in '
        "seconds from the start of the audio) after each sentence's audio; needs the server's aligner_model",
    )
    # extensions
    language: Language = None
    seed: Seed = None
    temperature: Temperature = None
    top_p: TopP = None
    top_k: TopK = None
    repetition_penalty: RepetitionPenalty = None
    # extension: a one-off voice clone from inline reference audio (wav, flac, mp3, ogg, m4a, webm)
    ref_audio: str | None = Field(default=None, description="base64 reference audio (a data: URL works)")
    ref_text: str | None = Field(default=None, max_length=2000, description="transcript of ref_audio")
    x_vector_only: bool | None = Field(default=None, description="clone from the speaker embedding only")

    @model_validator(mode="after")
    def _one_voice(self) -> SpeechRequest:
        if (self.voice is None) == (self.ref_audio is None):
            raise ValueError("give either voice or ref_audio (a one-off clone), not both or neither")
        return self
