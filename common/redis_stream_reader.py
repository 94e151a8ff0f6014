"""The web side of the chunk-stream protocol (``common.redis_stream``): a ``ChunkStream`` over Redis.

The reader ``XREAD BLOCK``s from ``0-0`` in short slices. Between slices with nothing new it looks at the
request's ``claim`` and ``lease`` keys, so it never waits forever:

- not claimed yet → a worker has not started it; after ``start_timeout_s`` → ``Unavailable``;
- claimed and the lease alive → the worker is busy (loading a model, generating) → keep waiting;
- claimed and the lease gone → one last non-blocking read for the final entry (a worker writes it before it
  drops the lease), else the worker died → ``SynthesisFailed`` (code ``worker_lost``).

Whenever the reader stops early (cancel, error) it sets the ``cancel`` key, so the worker stops and a queued
or redelivered task never starts. A stream read to its end is deleted at once (its ``claim`` key stays until
it expires); one left early expires after ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.exceptions import RedisError

from common.errors import SynthesisFailed, Unavailable, error_from_wire
from common.redis_stream import (
    CANCELLED,
    EOF,
    ERROR,
    KIND,
    MESSAGE,
    PCM,
    SEQ,
    WORDS,
    StreamKeys,
    StreamLimits,
)
from common.word_timings import PieceWords, StreamItem

log = logging.getLogger(__name__)

BATCH = 64
_pending_cancels: set[asyncio.Task[None]] = set()  # strong references until each cancel is written


class RedisChunkStream:
    """``common.ports.ChunkStream`` over ``redis.asyncio``; ``on_end`` runs once, however the stream ends."""

    def __init__(
        self,
        client: Any,
        keys: StreamKeys,
        limits: StreamLimits,
        *,
        poll_s: float = 0.2,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._limits = limits
        self._poll_ms = max(1, int(poll_s * 1000))
        self._on_end = on_end
        self._last_id = "0-0"
        self._pending: deque[dict[bytes, bytes]] = deque()
        self._num_read = 0
        self._started_by = time.monotonic() + limits.start_timeout_s
        self._ended = False

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self

    async def __anext__(self) -> StreamItem:
        if self._ended:
            raise StopAsyncIteration
        try:
            while not self._pending:
                if not await self._read(block=True):
                    await self._check_producer()
            return self._accept(self._pending.popleft())
        except StopAsyncIteration:
            self._end()
            await self._drop_stream()
            raise
        except (RedisError, OSError) as e:  # Redis went away mid-read: a 503 to retry (before the first byte)
            await self._stop_producer()
            raise Unavailable(f"the chunk stream's Redis is unavailable: {type(e).__name__}") from e
        except BaseException:  # an error, a cancelled task, Redis gone: the worker must not run on for nobody
            await self._stop_producer()
            raise

    async def cancel(self) -> None:
        if not self._ended:
            await self._stop_producer()

    # -- internals -----------------------------------------------------------------------------------------
    async def _read(self, *, block: bool) -> bool:
        response = await self._client.xread(
            {self._keys.stream: self._last_id}, count=BATCH, block=self._poll_ms if block else None
        )
        for _key, entries in response or ():
            for entry_id, fields in entries:
                self._last_id = entry_id
                self._pending.append(fields)
        return bool(self._pending)

    def _accept(self, fields: dict[bytes, bytes]) -> StreamItem:
        seq = int(fields[SEQ.encode()])
        if seq != self._num_read:
            raise SynthesisFailed(
                f"audio entries were lost (expected {self._num_read}, got {seq}): the reader fell behind "
                "the stream cap or the stream expired",
                code="stream_gap",
            )
        if (pcm := fields.get(PCM.encode())) is not None:
            self._num_read += 1
            return pcm
        if (words := fields.get(WORDS.encode())) is not None:
            return PieceWords.from_json(words)
        if (code := fields.get(ERROR.encode())) is not None:
            message = fields.get(MESSAGE.encode(), b"").decode(errors="replace")
            error = error_from_wire(fields.get(KIND.encode(), code).decode(), message)
            error.code = code.decode()
            raise error
        if EOF.encode() in fields:
            raise StopAsyncIteration
        if CANCELLED.encode() in fields:
            raise SynthesisFailed("the request was cancelled", code="cancelled")
        raise SynthesisFailed(f"unknown chunk-stream entry with fields {sorted(fields)}")

    async def _check_producer(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.exists(self._keys.claim)
        pipe.exists(self._keys.lease)
        claimed, leased = await pipe.execute()
        if leased:
            return
        if claimed:
            if await self._read(block=False):  # the final entry lands before the lease is dropped
                return
            raise SynthesisFailed(
                "the worker stopped while synthesizing this request (its heartbeat expired)",
                code="worker_lost",
            )
        if time.monotonic() > self._started_by:
            raise Unavailable(
                f"no worker started this request within {self._limits.start_timeout_s:g} s: "
                "the workers are busy or down"
            )

    async def _stop_producer(self) -> None:
        """Set the cancel key from a task of its own: the caller may be a cancelled task (the server cancels
        the response when the client disconnects), where any await of its own would be cancelled too."""
        if self._ended:
            return
        self._end()
        task = asyncio.get_running_loop().create_task(self._send_cancel())
        _pending_cancels.add(task)
        task.add_done_callback(_pending_cancels.discard)
        await asyncio.shield(task)

    async def _drop_stream(self) -> None:
        """Read to its end: the audio need not sit in Redis for the stream's TTL. The claim stays (a
        redelivered task still finds the request taken) and expires."""
        try:
            await self._client.unlink(self._keys.stream)
        except RedisError as e:  # it expires anyway
            log.info("could not delete %s: %s", self._keys.stream, e)

    async def _send_cancel(self) -> None:
        try:
            await self._client.set(self._keys.cancel, self._num_read, ex=self._limits.ttl_s)
        except RedisError as e:  # the worker then runs to its end; the stream still expires
            log.warning("could not cancel %s: %s", self._keys.stream, e)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end()
