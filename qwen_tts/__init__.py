"""Qwen3-TTS 12 Hz inference engine.

from qwen_tts import TTSEngine, SynthesisRequest, SamplingParams
engine = TTSEngine.from_pretrained("Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice", device="cpu", dtype="float32")
out = engine.synthesize(SynthesisRequest(text="Hello!", language="english", speaker="vivian"))
"""

from .aligner import ForcedAligner, WordTiming
from .engine import TTSEngine
from .errors import (
    CheckpointError,
    EmptyTextError,
    EngineInputError,
    MissingInstructError,
    ReferenceAudioError,
    UnknownLanguageError,
    UnknownSpeakerError,
    UnsupportedRequestError,
)
from .types import AudioChunk, SamplingParams, SynthesisRequest, SynthesisResult, VoiceClonePrompt

__all__ = [
    "AudioChunk",
    "CheckpointError",
    "EmptyTextError",
    "EngineInputError",
    "ForcedAligner",
    "MissingInstructError",
    "ReferenceAudioError",
    "SamplingParams",
    "SynthesisRequest",
    "SynthesisResult",
    "TTSEngine",
    "UnknownLanguageError",
    "UnknownSpeakerError",
    "UnsupportedRequestError",
    "VoiceClonePrompt",
    "WordTiming",
]
