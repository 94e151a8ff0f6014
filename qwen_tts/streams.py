"""One request's way through the batch: its plan, its progress, and the chunks it delivers.

``FrameBatch`` (``batch.py``) owns the rows and the steps; a ``Stream`` only knows its own request: how many
frames it has generated and delivered, when a chunk is due, where its audio ends, and the chunks waiting for
its reader.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from .types import AudioChunk, SamplingParams


@dataclass(frozen=True, slots=True)
class PlannedStream:
    """One request, ready to decode: its prompt and what bounds and shapes its generation."""

    embeds: torch.Tensor  # [1, T, D]
    text_rows: torch.Tensor  # [1, L + 1, D]: trailing text rows, then tts_pad
    ref_codes: torch.Tensor | None  # [frames, G]: codec left context (in-context clones)
    sampling: SamplingParams  # resolved
    seed: int
    max_frames: int
    min_frames: int
    ignored: tuple[str, ...] = ()
    prefix_len: int = 0  # leading prompt positions that depend on the voice alone (TalkerPrompt.prefix_len)


@dataclass(frozen=True, slots=True)
class Ending:
    """What a due chunk holds: the first ``keep`` of its new frames (those before an end of speech)."""

    keep: int
    finished: bool  # the model ended the speech (else: cut at the frame cap, or not ended yet)
    is_last: bool


@dataclass(eq=False, slots=True)
class Stream:
    plan: PlannedStream
    row: int | None = None  # None: waiting for a free row
    frames: int = 0  # frames generated
    emitted: int = 0  # frames delivered (or dropped past the end)
    decoder_state: object = None
    chunks: deque[AudioChunk] = field(default_factory=deque)
    error: BaseException | None = None
    done: bool = False  # the last chunk is queued (or an error is set)

    def is_due(self, first_chunk_frames: int, emit_every_frames: int) -> bool:
        """Whether its next chunk is complete: enough new frames for its size, or the frame cap reached."""
        size = first_chunk_frames if self.emitted == 0 else emit_every_frames
        return self.frames - self.emitted >= size or self.frames >= self.plan.max_frames

    def ending(self, starts: list[int], eos_id: int) -> Ending:
        """``starts``: codebook 0 of its new frames. An end-of-speech token ends the audio before it."""
        if eos_id in starts:
            return Ending(starts.index(eos_id), finished=True, is_last=True)
        return Ending(len(starts), finished=False, is_last=self.frames >= self.plan.max_frames)

    def deliver(self, codes: torch.Tensor, samples: np.ndarray, ending: Ending) -> None:
        """Queues the chunk of its new frames (``codes`` [keep, G] on the host, their ``samples``)."""
        self.emitted = self.frames
        self.chunks.append(
            AudioChunk(
                samples=samples,
                codes=codes.numpy().astype(np.int64),
                ignored=self.plan.ignored,
                is_last=ending.is_last,
                finished=ending.finished,
            )
        )
        self.done = ending.is_last
