"""From the head's timestamp classes to word times: the official monotonic fix-up, then seconds.

The head predicts each boundary on its own, so a few may run backwards. The fix-up keeps the longest
non-decreasing subsequence of the boundaries (the first one found, as the official code does) and repairs
every other run: a run of one or two takes its nearer kept neighbour, a longer run is spread evenly between
its kept neighbours. Each word then starts at its first boundary and ends at its second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class WordTiming:
    """One aligned unit (a word, or one CJK character) and its span in seconds from the audio's start."""

    text: str
    start_s: float
    end_s: float


def _longest_non_decreasing(values: np.ndarray) -> np.ndarray:
    """Which entries belong to the first longest non-decreasing subsequence (the official O(n^2) choice)."""
    n = len(values)
    length = np.ones(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        candidates = np.where(values[:i] <= values[i], length[:i], 0)
        best = int(np.argmax(candidates))  # the first of the longest, as a strict ">" scan keeps
        if candidates[best] > 0:
            length[i], parent[i] = candidates[best] + 1, best
    kept = np.zeros(n, dtype=bool)
    index = int(np.argmax(length))
    while index != -1:
        kept[index] = True
        index = int(parent[index])
    return kept


def fix_monotonic(times_ms: Sequence[float]) -> list[int]:
    """The boundaries (ms) made non-decreasing, truncated to whole milliseconds like the official code."""
    values = np.asarray(times_ms, dtype=np.float64)
    n = len(values)
    if n == 0:
        return []
    kept = _longest_non_decreasing(values)
    result = [float(v) for v in values]
    i = 0
    while i < n:
        if kept[i]:
            i += 1
            continue
        j = i
        while j < n and not kept[j]:
            j += 1
        left = next((result[k] for k in range(i - 1, -1, -1) if kept[k]), None)
        right = next((result[k] for k in range(j, n) if kept[k]), None)
        for k in range(i, j):
            if left is None or right is None:
                result[k] = left if right is None else right  # type: ignore[assignment]
            elif j - i <= 2:
                result[k] = left if (k - (i - 1)) <= (j - k) else right
            else:
                result[k] = left + (right - left) / (j - i + 1) * (k - i + 1)
        i = j
    return [int(v) for v in result]


def word_timings(words: Sequence[str], classes: Sequence[int], segment_ms: float) -> list[WordTiming]:
    """Words from their 2 * len(words) boundary classes (start, end, start, end, ...)."""
    if len(classes) != 2 * len(words):
        raise ValueError(f"{len(words)} words need {2 * len(words)} boundaries, got {len(classes)}")
    fixed = fix_monotonic([float(c) * segment_ms for c in classes])
    return [
        WordTiming(word, round(fixed[2 * i] / 1000.0, 3), round(fixed[2 * i + 1] / 1000.0, 3))
        for i, word in enumerate(words)
    ]
