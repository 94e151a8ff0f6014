"""The embedded (one-machine) adapters: an in-process dispatcher and an in-memory chunk stream.

The engine runs on the ``EngineHost`` worker thread; audio crosses to the event loop through
``loop.call_soon_threadsafe`` into an ``asyncio.Queue``. The host never blocks on a slow reader (it skips a
full stream), and the reader never blocks the loop (it awaits the queue).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from common.contracts import ModelInfo, SynthesisJob
from common.errors import ServiceError, Unavailable
from common.word_timings import StreamItem
from workers.engine_host import EngineHost


@dataclass(frozen=True, slots=True)
class _End:
    error: ServiceError | None


class MemoryChunkStream:
    """One job's audio: the host thread writes (``ChunkSink``), the event loop reads (``ChunkStream``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, capacity: int, wake: Callable[[], None]) -> None:
        self._loop = loop
        self._capacity = capacity
        self._wake = wake
        self._queue: asyncio.Queue[StreamItem | _End] = asyncio.Queue()
        self._lock = threading.Lock()
        self._buffered = 0
        self._cancelled = threading.Event()
        self._ended = False

    # -- producer side (engine host thread) --
    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def has_room(self) -> bool:
        with self._lock:
            return self._buffered < self._capacity

    def put(self, item: StreamItem) -> None:
        with self._lock:
            self._buffered += 1
        self._deliver(item)

    def close(self, error: ServiceError | None = None) -> None:
        self._deliver(_End(error))

    def _deliver(self, item: StreamItem | _End) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shut down): nobody is left to read
            self._cancelled.set()

    # -- consumer side (event loop) --
    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self

    async def __anext__(self) -> StreamItem:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _End):
            self._ended = True
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        with self._lock:
            self._buffered -= 1
        self._wake()
        return item

    async def cancel(self) -> None:
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._wake()


class InProcessDispatcher:
    """``common.ports.Dispatcher`` over an ``EngineHost`` in this process."""

    def __init__(self, host: EngineHost, *, max_buffered_chunks: int = 2, rows: int | None = None) -> None:
        """``rows``: requests the host decodes at once (``optimization.max_batch_size``; None: unknown)."""
        self._host = host
        self._capacity = max_buffered_chunks
        self._rows = rows

    async def start(self) -> None:
        self._host.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._host.close)

    async def wait_ready(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self._host.wait_ready, timeout)

    def models(self) -> Sequence[ModelInfo]:
        return self._host.models()

    def queue_depth(self) -> int:
        return self._host.queue_depth()

    def rows(self) -> int | None:
        return self._rows

    async def is_ready(self) -> bool:
        return self._host.is_ready

    async def submit(self, job: SynthesisJob) -> MemoryChunkStream:
        if not self._host.is_ready:
            raise Unavailable("the engine is not ready yet (models loading)")
        stream = MemoryChunkStream(
            asyncio.get_running_loop(), capacity=self._capacity, wake=self._host.notify
        )
        self._host.submit(job, stream)
        return stream
