"""A fake Base engine that also makes clone prompts, and reference recordings (made in process, PyAV)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qwen_tts import VoiceClonePrompt
from tests.audio.samples import upload
from tests.service.fake_engine import FakeEngine

SAMPLES_PER_FRAME = 1920


@dataclass
class CloningFakeEngine(FakeEngine):
    """``FakeEngine`` plus ``create_voice_clone_prompt`` (an embedding that depends on the audio)."""

    clone_calls: list[dict[str, Any]] = field(default_factory=list)
    _clone_lock: threading.Lock = field(default_factory=threading.Lock)

    def create_voice_clone_prompt(
        self,
        ref_audio: np.ndarray,
        ref_sample_rate: int,
        ref_text: str | None = None,
        x_vector_only: bool = False,
    ) -> VoiceClonePrompt:
        with self._clone_lock:
            self.clone_calls.append(
                {"samples": len(ref_audio), "rate": ref_sample_rate, "text": ref_text, "x": x_vector_only}
            )
        audio = np.asarray(ref_audio, dtype=np.float32)
        embedding = np.array([float(np.sqrt(np.mean(audio**2))), len(audio) / ref_sample_rate], np.float32)
        codes = None if x_vector_only else np.zeros((max(1, len(audio) // SAMPLES_PER_FRAME), 16), np.int64)
        return VoiceClonePrompt(
            speaker_embedding=embedding, ref_codes=codes, ref_text=ref_text, x_vector_only=x_vector_only
        )


def recording(seconds: float = 2.0, *, fmt: str = "wav", frequency: int = 330, volume: float = 0.5) -> bytes:
    """A tone in ``fmt`` (wav, flac, mp3, ogg, m4a, webm, aac), made with PyAV; ``volume`` 1 is -18 dBFS."""
    return upload(fmt, seconds, frequency=frequency, amplitude=volume / 8)


def silence_wav(seconds: float = 2.0) -> bytes:
    return recording(seconds, volume=0.0)
