"""A request whose worker is lost before its first chunk is sent again, once, to whichever worker is free:
the client sees a slower first byte instead of an error. After the first chunk the audio cannot be replayed
seamlessly (another worker would synthesize different audio), so a later loss stays an error
(``web.audio_response`` ends the body so it cannot look complete)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from common.contracts import SynthesisJob
from common.errors import SynthesisFailed
from common.ports import ChunkStream, Dispatcher
from common.word_timings import StreamItem

log = logging.getLogger(__name__)

RETRIED_CODES = frozenset({"worker_lost"})
MAX_RETRIES = 1


class RetryBeforeFirstChunk:
    """``common.ports.ChunkStream`` over ``stream``, resubmitting ``job`` when it fails with a lost worker
    before anything was read from it."""

    def __init__(self, dispatcher: Dispatcher, job: SynthesisJob, stream: ChunkStream) -> None:
        self._dispatcher = dispatcher
        self._job = job
        self._stream = stream
        self._retries_left = MAX_RETRIES
        self._items_gen: AsyncIterator[StreamItem] | None = None

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        """One iteration however often it is asked for (the response reads the first chunk, then the rest)."""
        if self._items_gen is None:
            self._items_gen = self._items()
        return self._items_gen

    async def _items(self) -> AsyncIterator[StreamItem]:
        while True:
            items = aiter(self._stream)
            try:
                first = await anext(items)
            except StopAsyncIteration:
                return
            except SynthesisFailed as e:
                if e.code not in RETRIED_CODES or self._retries_left == 0:
                    raise
                self._retries_left -= 1
                log.warning(
                    "request %s: its worker was lost before the first chunk: sent again",
                    self._job.request_id,
                    extra={"error": e.message},
                )
                await self._stream.cancel()
                self._stream = await self._dispatcher.submit(self._job)
                continue
            yield first
            async for item in items:
                yield item
            return

    async def cancel(self) -> None:
        await self._stream.cancel()
