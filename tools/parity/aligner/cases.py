"""The aligner parity cases: audio (made here, deterministic), transcript, language. Standard library and
numpy only (the test suite and the reference venv both load this file by path)."""

from __future__ import annotations

import numpy as np

# name -> (seconds, sample rate, transcript, language). Together: a sub-second clip (one partial conv chunk),
# lengths that are not whole hops, audio past one 8 s attention window, 24 kHz input (resampled), English,
# Chinese with Latin words and punctuation.
ALIGN_CASES: dict[str, tuple[float, int, str, str]] = {
    "en_short_16k": (0.73, 16000, "Hi there.", "English"),
    "en_3s_16k": (3.0, 16000, "Hello world, this is a test of the aligner.", "English"),
    "zh_mixed_12s_16k": (12.37, 16000, "你好，世界！我们在测试 Qwen3 的对齐器，它很好。", "Chinese"),
    "en_5s_24k": (5.01, 24000, "It's a calm, warm voice; and the sound is slowly fading.", "English"),
}

# Word-splitting cases: (text, language) run through the official splitter.
WORD_CASES: tuple[tuple[str, str], ...] = (
    ("Hello, world! It's 3.14 p.m. in the U.S.", "English"),
    ("  Don't stop -- believing...  ", "english"),
    ("Grüße aus Köln: 100% sicher!", "German"),
    ("你好，世界！我们在测试Qwen3的对齐器。", "Chinese"),
    ("混合 mixed 文本 text，带标点。", "Chinese"),
    ("Привет, мир!", "Russian"),
    ("", "English"),
    ("?!...", "English"),
)

NUM_FIX_CASES = 40  # random boundary sequences for the monotonic fix-up


def case_audio(seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    """Speech-like test audio: noise bursts under a slow envelope, with a pause in the middle."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t)
    envelope[(t > seconds * 0.45) & (t < seconds * 0.55)] = 0.01
    wave = rng.standard_normal(n) * 0.2 * envelope + 0.1 * np.sin(2 * np.pi * 180 * t)
    return wave.astype(np.float32)


def fix_cases(seed: int = 5) -> list[list[float]]:
    """Boundary sequences (ms, multiples of 80) with backward jumps, runs of 1-5 outliers, ties."""
    rng = np.random.default_rng(seed)
    sequences = []
    for index in range(NUM_FIX_CASES):
        n = int(rng.integers(2, 40)) // 2 * 2
        base = np.sort(rng.integers(0, 200, n))
        flips = rng.random(n) < (0.05 + 0.4 * (index % 4) / 3)
        base[flips] = rng.integers(0, 250, int(flips.sum()))
        sequences.append([float(v) * 80.0 for v in base])
    return sequences
