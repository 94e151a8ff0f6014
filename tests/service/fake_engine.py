"""A fake engine: the one fake the service tests use, standing exactly where ``qwen_tts.TTSEngine`` stands.

Audio is deterministic: a tone whose pitch depends on the speaker, ``frames_per_char`` codec frames (1920
samples each) per input character plus two, streamed ``chunk_frames`` frames at a time. Every ``stream`` call
is recorded (chunks produced, whether the generator was closed early) so tests observe the engine boundary.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLES_PER_FRAME = 1920
SPEAKERS = ("Vivian", "Serena", "Uncle_Fu", "Dylan", "Eric", "Ryan", "Aiden", "Ono_Anna", "Sohee")
LANGUAGES = (
    "chinese",
    "english",
    "german",
    "italian",
    "portuguese",
    "spanish",
    "japanese",
    "korean",
    "french",
    "russian",
)


@dataclass(frozen=True)
class FakeRequest:
    text: str
    language: str
    speaker: str | None
    instruct: str | None
    voice_clone: Any
    max_new_frames: int
    seed: int | None
    sampling: dict[str, Any]


def fake_request(*, text: str, job: Any, voice_clone: Any, max_new_frames: int) -> FakeRequest:
    return FakeRequest(
        text,
        job.language,
        job.speaker,
        job.instruct,
        voice_clone,
        max_new_frames,
        job.seed,
        job.sampling.model_dump(),
    )


@dataclass(frozen=True)
class FakeChunk:
    samples: np.ndarray


@dataclass
class StreamRecord:
    request: FakeRequest
    chunks: int = 0
    closed_early: bool = False
    finished: bool = False


def tone(speaker: str | None, start: int, count: int) -> np.ndarray:
    freq = 200 + zlib.crc32((speaker or "").lower().encode()) % 400
    t = (np.arange(start, start + count, dtype=np.float64)) / 24_000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@dataclass
class FakeEngine:
    model_type: str = "custom_voice"
    frames_per_char: int = 1
    chunk_frames: int = 2
    delay_s: float = 0.0
    supports_instruct: bool = True
    fail_at_chunk: int | None = None  # raise RuntimeError when this chunk (0-based) is due
    speakers: tuple[str, ...] = SPEAKERS
    languages: tuple[str, ...] = LANGUAGES
    records: list[StreamRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def num_frames(self, text: str, max_new_frames: int) -> int:
        return min(len(text) * self.frames_per_char + 2, max_new_frames)

    def stream(self, request: FakeRequest) -> Iterator[FakeChunk]:
        if self.model_type == "custom_voice" and (request.speaker or "").lower() not in {
            s.lower() for s in self.speakers
        }:
            raise ValueError(f"unknown speaker {request.speaker!r}")
        record = StreamRecord(request)
        with self._lock:
            self.records.append(record)
        return self._chunks(request, record)

    def _chunks(self, request: FakeRequest, record: StreamRecord) -> Iterator[FakeChunk]:
        total = self.num_frames(request.text, request.max_new_frames) * SAMPLES_PER_FRAME
        step = self.chunk_frames * SAMPLES_PER_FRAME
        try:
            for index, start in enumerate(range(0, total, step)):
                if self.delay_s:
                    time.sleep(self.delay_s)
                if index == self.fail_at_chunk:
                    raise RuntimeError(f"fake engine failure at chunk {index}")
                record.chunks += 1
                yield FakeChunk(tone(request.speaker, start, min(step, total - start)))
            record.finished = True
        finally:
            record.closed_early = not record.finished
