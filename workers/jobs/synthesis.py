"""``HostSynthesizer``: how a segment's ``SynthesisJob`` reaches an engine, in both run modes.

The segment is submitted to the ``EngineHost`` (the embedded server's, or a Celery worker child's) and the
caller's thread waits for its audio. It runs together with live speech requests, round-robin and in the
engine's batch, so a book never starves a live request. A wait that is interrupted (a Celery soft time
limit, a shutdown) cancels the segment, which frees its row on the host's next turn.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from common.contracts import SynthesisJob
from common.errors import ServiceError, SynthesisFailed
from workers.engine_host import EngineHost


class CollectingSink:
    """A ``ChunkSink`` that keeps every chunk; the job's thread waits for ``close``."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.error: ServiceError | None = None
        self.closed = threading.Event()
        self._cancelled = threading.Event()

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

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
        sink = CollectingSink()
        self._host.submit(job, sink)
        try:
            finished = sink.closed.wait(self._timeout_s)
        except BaseException:
            self._cancel(sink)
            raise
        if not finished:
            self._cancel(sink)
            raise SynthesisFailed(f"segment {job.request_id} did not finish within {self._timeout_s:g} s")
        if sink.error is not None:
            raise sink.error
        return iter(sink.chunks)

    def _cancel(self, sink: CollectingSink) -> None:
        sink.cancel()
        self._host.notify()
