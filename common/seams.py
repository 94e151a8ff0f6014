"""Joining independently synthesized pieces of one long input into one seamless stream.

Joining policy. Each piece is generated from its own prompt, so the waveform is discontinuous at a piece
boundary. The joiner (1) holds back the last ``fade_ms`` of every piece until the piece ends and fades it out
with a raised-cosine ramp, (2) fades the first ``fade_ms`` of the next piece in, and (3) inserts
``pause_ms`` of silence between pieces — a natural sentence gap, as pieces end at sentence boundaries.
The ramps meet at zero, so there is no click; the inner audio of a piece is untouched, and a single-piece
input passes through unchanged.
"""

from __future__ import annotations

import numpy as np

from common.contracts import SAMPLE_RATE


class SeamJoiner:
    def __init__(
        self, *, fade_ms: float = 10.0, pause_ms: float = 120.0, sample_rate: int = SAMPLE_RATE
    ) -> None:
        self._fade = max(1, int(sample_rate * fade_ms / 1000))
        self._pause = int(sample_rate * pause_ms / 1000)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, self._fade, dtype=np.float32))
        self._fade_in_ramp = ramp.astype(np.float32)
        self._fade_out_ramp = ramp[::-1].astype(np.float32)
        self._tail = np.zeros(0, dtype=np.float32)
        self._piece_index = -1
        self._emitted_in_piece = 0

    def start_piece(self) -> np.ndarray:
        """Begin the next piece; returns the silence that separates it from the previous one."""
        self._piece_index += 1
        self._emitted_in_piece = 0
        if self._piece_index == 0:
            return np.zeros(0, dtype=np.float32)
        return np.zeros(self._pause, dtype=np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Samples of the current piece in; the samples that are final now out."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._piece_index > 0 and self._emitted_in_piece < self._fade:
            samples = samples.copy()
            start = self._emitted_in_piece
            count = min(self._fade - start, samples.size)
            samples[:count] *= self._fade_in_ramp[start : start + count]
        self._emitted_in_piece += samples.size
        buffered = np.concatenate([self._tail, samples]) if self._tail.size else samples
        keep = min(self._fade, buffered.size)
        self._tail = buffered[buffered.size - keep :].copy()
        return buffered[: buffered.size - keep]

    def end_piece(self, *, is_last: bool) -> np.ndarray:
        """Flush the held-back tail of the current piece (faded out unless it is the last piece)."""
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        if is_last or tail.size == 0:
            return tail
        return tail * self._fade_out_ramp[self._fade - tail.size :]
