"""``Synthesize`` adapters: how a segment's ``SynthesisJob`` reaches an engine.

- ``HostSynthesizer``: through the embedded ``EngineHost`` worker thread (the thread that serves live speech
  requests too, round-robin, so a book never starves a live request).
- ``engine_synthesizer``: straight on a resident engine (a Celery worker process), via the one
  ``JobOptions.audio`` implementation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from common.contracts import SynthesisJob
from common.errors import ServiceError, SynthesisFailed
from workers.engine_host import EngineHost
from workers.engine_port import Engine, JobOptions


class _CollectingSink:
    """A ``ChunkSink`` that keeps every chunk; the job's thread waits for ``close``."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.error: ServiceError | None = None
        self.closed = threading.Event()

    @property
    def is_cancelled(self) -> bool:
        return False

    def has_room(self) -> bool:
        return True

    def put(self, pcm: bytes) -> None:
        self.chunks.append(pcm)

    def close(self, error: ServiceError | None = None) -> None:
        self.error = error
        self.closed.set()


class HostSynthesizer:
    def __init__(self, host: EngineHost, *, timeout_s: float = 3600.0) -> None:
        self._host = host
        self._timeout_s = timeout_s

    def __call__(self, job: SynthesisJob) -> Iterator[bytes]:
        sink = _CollectingSink()
        self._host.submit(job, sink)
        if not sink.closed.wait(self._timeout_s):
            raise SynthesisFailed(f"segment {job.request_id} did not finish within {self._timeout_s:g} s")
        if sink.error is not None:
            raise sink.error
        return iter(sink.chunks)


def engine_synthesizer(
    engine_of: Callable[[str], Engine], options: JobOptions
) -> Callable[[SynthesisJob], Iterator[bytes]]:
    def synthesize(job: SynthesisJob) -> Iterator[bytes]:
        return options.audio(engine_of(job.model), job)

    return synthesize
