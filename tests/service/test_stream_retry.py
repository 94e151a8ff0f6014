"""A worker lost before the first chunk (issue 19): the request is sent again, once, and the client gets
the audio; a loss after the first chunk, or any other failure, stays an error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from common.contracts import SynthesisJob
from common.errors import SynthesisFailed
from web.stream_retry import RetryBeforeFirstChunk

JOB = SynthesisJob.model_validate(
    {"request_id": "req-1", "model": "m", "pieces": ("Hello.",), "speaker": "vivian", "language": "auto"}
)


class Stream:
    def __init__(self, items: list[bytes], error: SynthesisFailed | None = None) -> None:
        self.items, self.error, self.cancelled = items, error, False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        for item in self.items:
            yield item
        if self.error is not None:
            raise self.error

    async def cancel(self) -> None:
        self.cancelled = True


class Dispatcher:
    def __init__(self, *streams: Stream) -> None:
        self.streams, self.submitted = list(streams), 0

    async def submit(self, job: SynthesisJob) -> Stream:
        self.submitted += 1
        return self.streams.pop(0)


async def _read(stream: RetryBeforeFirstChunk) -> list[bytes]:
    first = await anext(aiter(stream))
    return [first, *[item async for item in stream]]


def _lost() -> SynthesisFailed:
    return SynthesisFailed("the worker stopped", code="worker_lost")


def test_a_worker_lost_before_the_first_chunk_is_retried_on_another() -> None:
    lost, other = Stream([], _lost()), Stream([b"a", b"b"])
    dispatcher = Dispatcher(other)
    stream = RetryBeforeFirstChunk(dispatcher, JOB, lost)  # type: ignore[arg-type]
    assert asyncio.run(_read(stream)) == [b"a", b"b"]
    assert lost.cancelled and dispatcher.submitted == 1


def test_a_loss_after_the_first_chunk_or_another_failure_stays_an_error() -> None:
    late = RetryBeforeFirstChunk(Dispatcher(), JOB, Stream([b"a"], _lost()))  # type: ignore[arg-type]
    with pytest.raises(SynthesisFailed):
        asyncio.run(_read(late))
    other = SynthesisFailed("bad speaker")
    failed = RetryBeforeFirstChunk(Dispatcher(), JOB, Stream([], other))  # type: ignore[arg-type]
    with pytest.raises(SynthesisFailed):
        asyncio.run(_read(failed))


def test_only_one_retry() -> None:
    dispatcher = Dispatcher(Stream([], _lost()))
    stream = RetryBeforeFirstChunk(dispatcher, JOB, Stream([], _lost()))  # type: ignore[arg-type]
    with pytest.raises(SynthesisFailed):
        asyncio.run(_read(stream))
    assert dispatcher.submitted == 1
