"""Ports between the web layer and whatever runs the engine.

The embedded mode implements them in-process (``workers.embedded``); the distributed mode implements them over
Celery + Redis Streams. Routes depend only on these protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from common.contracts import ModelInfo, SynthesisJob
from common.word_timings import StreamItem


@runtime_checkable
class ChunkStream(Protocol):
    """Audio of one request, in order: 24 kHz mono s16le PCM byte chunks (and, for a job with
    ``timestamps="word"``, each piece's ``common.word_timings.PieceWords`` right after that piece's audio).

    Iteration ends after the last chunk; a failure on the engine side is raised from iteration as a
    ``common.errors.ServiceError``. ``cancel`` tells the producer to stop (the client went away); it is
    idempotent and safe to call after the end.
    """

    def __aiter__(self) -> AsyncIterator[StreamItem]: ...

    async def cancel(self) -> None: ...


class Dispatcher(Protocol):
    """Sends synthesis jobs to an engine and hands back their chunk streams."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def models(self) -> Sequence[ModelInfo]:
        """The models that can serve requests now."""
        ...

    def queue_depth(self) -> int:
        """Jobs submitted and not finished (running or waiting)."""
        ...

    def rows(self) -> int | None:
        """Requests the engines behind it decode at once now (admission's queue-wait bound; None: unknown)."""
        ...

    async def is_ready(self) -> bool: ...

    async def submit(self, job: SynthesisJob) -> ChunkStream: ...
