"""``speed``: a tempo change without a pitch change, as a chain of FFmpeg ``atempo`` filters (WSOLA).

One atempo stage is kept within 0.5–2.0 (its best-quality range), so 0.25 is 0.5 × 0.5 and 4.0 is 2 × 2.
``Tempo`` is fed s16 frames and hands back what the graph has ready; like any overlap-add stretch it holds
back about one window (tens of milliseconds) until more input or the end arrives.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import av.filter

from common.contracts import SAMPLE_RATE

MIN_SPEED = 0.25
MAX_SPEED = 4.0


def atempo_stages(speed: float) -> list[float]:
    """atempo factors whose product is ``speed``, each within 0.5–2.0 (none for 1.0)."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be within {MIN_SPEED}–{MAX_SPEED}, got {speed}")
    stages: list[float] = []
    remaining = speed
    while remaining > 2.0 + 1e-9 or remaining < 0.5 - 1e-9:
        step = 2.0 if remaining > 2.0 else 0.5
        stages.append(step)
        remaining /= step
    if not math.isclose(remaining, 1.0):
        stages.append(remaining)
    return stages


def is_unit_speed(speed: float) -> bool:
    return math.isclose(speed, 1.0)


class Tempo:
    """An atempo filter graph over mono s16 frames at 24 kHz."""

    def __init__(self, speed: float) -> None:
        stages = atempo_stages(speed)
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(
            format="s16", sample_rate=SAMPLE_RATE, layout="mono", time_base=Fraction(1, SAMPLE_RATE)
        )
        filters = [self._graph.add("atempo", f"{stage:.6g}") for stage in stages]
        self._graph.link_nodes(source, *filters, self._graph.add("abuffersink")).configure()

    def push(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        """Feed ``frame`` (None: the end) and return the frames that are ready now."""
        self._graph.push(frame)
        ready: list[av.AudioFrame] = []
        while True:
            try:
                out = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return ready
            assert isinstance(out, av.AudioFrame)
            ready.append(out)
