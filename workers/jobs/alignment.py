"""Word timings of a job segment, aligned in the worker that synthesized it (its PCM is still in memory).

Why here: no second download of the audio, and the timings travel with the segment (a JSON blob beside its
audio, ``words_key``), so the finalize can place them in every output. The forced aligner
(``qwen_tts.ForcedAligner``, the ``aligner_model`` setting) is loaded once per worker on first use, on the
worker's device, and kept resident beside its TTS models; jobs that do not ask for timestamps never load it.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any

import numpy as np

from common.audio.pcm import s16le_to_float
from common.contracts import SAMPLE_RATE
from common.subtitles import Word, words_json

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ALIGNER_LANGUAGES = {
    "chinese", "cantonese", "english", "german", "spanish", "french", "italian", "portuguese", "russian",
}  # fmt: skip


def words_key(audio_key: str) -> str:
    """The timings blob beside a segment's audio blob."""
    return audio_key.removesuffix(".pcm") + ".words.json"


def alignment_language(language: str | None, text: str) -> str:
    """The aligner's language for a job's: as given when it knows it, else Chinese for CJK text, English."""
    name = (language or "auto").strip().lower()
    if name in _ALIGNER_LANGUAGES:
        return name.capitalize()
    return "Chinese" if _CJK.search(text) else "English"


class SegmentAligner:
    """The worker's forced aligner: loaded on first use (thread-safe), kept for the process's life."""

    def __init__(self, model: str, *, device: str = "cpu") -> None:
        self._model, self._device = model, device
        self._aligner: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._aligner is None:
                from qwen_tts import ForcedAligner  # torch: only in workers that align

                dtype = "float32" if self._device == "cpu" else "bfloat16"
                log.info("loading forced aligner %s on %s", self._model, self._device)
                self._aligner = ForcedAligner.from_pretrained(self._model, device=self._device, dtype=dtype)
            return self._aligner

    def words(self, pcm: bytes, text: str, language: str | None) -> list[Word]:
        return self.align_samples(s16le_to_float(pcm), text, language)

    def align_samples(self, samples: np.ndarray, text: str, language: str | None) -> list[Word]:
        """Words of ``samples`` (float, 24 kHz) in seconds from their start, clamped to their length."""
        if samples.size < SAMPLE_RATE // 50:  # under 20 ms: nothing to time
            return []
        timings = self._loaded().align(
            np.ascontiguousarray(samples), SAMPLE_RATE, text, alignment_language(language, text)
        )
        # the head's classes reach 400 s; a weak (or tiny random) model may time past the audio: clamp
        duration = samples.size / SAMPLE_RATE
        return [Word(t.text, min(float(t.start_s), duration), min(float(t.end_s), duration)) for t in timings]

    def words_blob(self, pcm: bytes, text: str, language: str | None) -> bytes:
        return words_json(self.words(pcm, text, language)).encode()


def worker_aligner(model: str | None, device: str) -> SegmentAligner | None:
    """This process's aligner for ``aligner_model`` (one instance per model and device: the engine host and
    the job segments share it, so it loads once); None when alignment is off."""
    return None if model is None else _shared(model, device)


@functools.cache
def _shared(model: str, device: str) -> SegmentAligner:
    return SegmentAligner(model, device=device)
