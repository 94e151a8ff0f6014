"""Forced alignment with Qwen3-ForcedAligner: word timings for a transcript and its audio.

from qwen_tts import ForcedAligner
aligner = ForcedAligner.from_pretrained("Qwen/Qwen3-ForcedAligner-0.6B", device="cpu", dtype="float32")
words = aligner.align(samples, sample_rate, "Hello world.", "English")  # list[WordTiming]
"""

from .aligner import ForcedAligner
from .timestamps import WordTiming
from .words import split_words

__all__ = ["ForcedAligner", "WordTiming", "split_words"]
