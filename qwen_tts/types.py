"""The engine's public data: requests, sampling parameters, results, clone prompts."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .errors import EngineInputError

SAMPLE_RATE = 24000

# The official package's defaults, used where generation_config.json does not set a value.
OFFICIAL_SAMPLING_DEFAULTS: dict[str, Any] = {
    "do_sample": True,
    "temperature": 0.9,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.05,
    "subtalker_do_sample": True,
    "subtalker_temperature": 0.9,
    "subtalker_top_k": 50,
    "subtalker_top_p": 1.0,
}
# generation_config.json spells the predictor's sampling switch "subtalker_dosample".
GENERATION_CONFIG_KEYS = {name: name for name in OFFICIAL_SAMPLING_DEFAULTS} | {
    "subtalker_do_sample": "subtalker_dosample"
}


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Sampling for codebook 0 (talker) and, with ``subtalker_``, for codebooks 1..15 (code predictor).

    ``None`` means "the model's default" (generation_config.json, else the official default); the engine
    resolves it. Processing order is Hugging Face's: repetition penalty (codebook 0 only), minimum length,
    suppressed control codes, then temperature, top-k, top-p. ``top_k=0`` disables top-k.
    """

    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    subtalker_do_sample: bool | None = None
    subtalker_temperature: float | None = None
    subtalker_top_k: int | None = None
    subtalker_top_p: float | None = None

    def __post_init__(self) -> None:
        for prefix in ("", "subtalker_"):
            temperature = getattr(self, f"{prefix}temperature")
            top_k = getattr(self, f"{prefix}top_k")
            top_p = getattr(self, f"{prefix}top_p")
            if temperature is not None and not temperature > 0:
                raise EngineInputError(f"{prefix}temperature must be > 0, got {temperature}")
            if top_k is not None and top_k < 0:
                raise EngineInputError(f"{prefix}top_k must be >= 0, got {top_k}")
            if top_p is not None and not 0 < top_p <= 1:
                raise EngineInputError(f"{prefix}top_p must be in (0, 1], got {top_p}")
        if self.repetition_penalty is not None and not self.repetition_penalty > 0:
            raise EngineInputError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    def resolved(self, defaults: SamplingParams) -> SamplingParams:
        """This object with every ``None`` taken from ``defaults``."""
        return replace(
            self,
            **{f.name: getattr(defaults, f.name) for f in fields(self) if getattr(self, f.name) is None},
        )

    @classmethod
    def from_generation_config(cls, raw: dict[str, Any]) -> SamplingParams:
        values = {
            name: raw.get(key, OFFICIAL_SAMPLING_DEFAULTS[name])
            for name, key in GENERATION_CONFIG_KEYS.items()
        }
        return cls(**values)


@dataclass(frozen=True, slots=True)
class VoiceClonePrompt:
    """What a Base model needs to clone a voice; plain arrays, so it can be stored and reused."""

    speaker_embedding: np.ndarray  # float32 [D]: the x-vector of the reference audio
    ref_codes: np.ndarray | None  # int64 [frames, 16]: the reference audio's codes (None: x-vector only)
    ref_text: str | None  # transcript of the reference audio (None: x-vector only)
    x_vector_only: bool = False

    def __post_init__(self) -> None:
        if self.speaker_embedding.ndim != 1:
            raise EngineInputError(f"speaker_embedding must be 1-D, got shape {self.speaker_embedding.shape}")
        if not self.x_vector_only:
            if self.ref_codes is None or self.ref_codes.ndim != 2 or len(self.ref_codes) == 0:
                raise EngineInputError("an in-context clone prompt needs ref_codes of shape [frames, groups]")
            if not self.ref_text or not self.ref_text.strip():
                raise EngineInputError(
                    "an in-context clone prompt needs ref_text (or use x_vector_only=True)"
                )


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    text: str
    language: str = "auto"
    speaker: str | None = None
    instruct: str | None = None
    voice_clone: VoiceClonePrompt | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_new_frames: int | None = None  # None: the engine's configured maximum
    min_new_frames: int = 2  # the official minimum: end of speech is impossible before this many frames
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_frames is not None and self.max_new_frames < 1:
            raise EngineInputError(f"max_new_frames must be >= 1, got {self.max_new_frames}")
        if self.min_new_frames < 0:
            raise EngineInputError(f"min_new_frames must be >= 0, got {self.min_new_frames}")


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    samples: np.ndarray  # float32 [num_samples], mono
    codes: np.ndarray  # int64 [frames, 16]
    sample_rate: int = SAMPLE_RATE
    ignored: tuple[str, ...] = ()  # request fields this model does not use (e.g. "instruct" on 0.6B)
    finished: bool = True  # False when max_new_frames cut the speech before its end

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"{name} is ignored by this model" for name in self.ignored)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    samples: np.ndarray  # float32 [num_samples]
    codes: np.ndarray  # int64 [frames, 16]: the frames this chunk's audio comes from
    sample_rate: int = SAMPLE_RATE
    ignored: tuple[str, ...] = ()
    is_last: bool = False
    finished: bool = False  # on the last chunk: True when the model ended the speech (not max_new_frames)
