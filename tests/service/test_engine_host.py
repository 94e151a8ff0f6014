"""The embedded dispatcher: fair round-robin across requests, audio never mixed, errors carried, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from common.audio.pcm import s16le_to_float
from common.contracts import SynthesisJob
from common.errors import InvalidRequest, SynthesisFailed
from tests.service.fake_engine import SAMPLES_PER_FRAME, FakeEngine, tone
from tests.service.harness import fake_services
from workers.embedded import InProcessDispatcher

T = TypeVar("T")


def run_with_dispatcher(engine: FakeEngine, body: Callable[[InProcessDispatcher], Awaitable[T]]) -> T:
    async def main() -> T:
        dispatcher = fake_services({"fake-CustomVoice": engine}).dispatcher
        assert isinstance(dispatcher, InProcessDispatcher)
        await dispatcher.start()
        try:
            assert await dispatcher.wait_ready(10)
            return await asyncio.wait_for(body(dispatcher), 20)
        finally:
            await dispatcher.close()

    return asyncio.run(main())


def job(text: str, speaker: str = "Vivian", request_id: str = "r") -> SynthesisJob:
    return SynthesisJob(request_id=request_id, model="fake-CustomVoice", pieces=(text,), speaker=speaker)


async def collect(stream: AsyncIterator[bytes], log: list[str], name: str) -> bytes:
    parts = []
    async for chunk in stream:
        log.append(name)
        parts.append(chunk)
    return b"".join(parts)


def test_concurrent_requests_advance_in_turn_and_never_mix_audio() -> None:
    engine = FakeEngine(delay_s=0.005)
    order: list[str] = []

    async def body(dispatcher: InProcessDispatcher) -> tuple[bytes, bytes]:
        long_stream = await dispatcher.submit(job("x" * 60, "Ryan", "long"))
        short_stream = await dispatcher.submit(job("y" * 10, "Sohee", "short"))
        long_audio, short_audio = await asyncio.gather(
            collect(long_stream, order, "long"), collect(short_stream, order, "short")
        )
        return long_audio, short_audio

    long_audio, short_audio = run_with_dispatcher(engine, body)
    for audio, speaker, text_len in [(long_audio, "Ryan", 60), (short_audio, "Sohee", 10)]:
        expected = tone(speaker, 0, (text_len + 2) * SAMPLES_PER_FRAME)
        np.testing.assert_allclose(s16le_to_float(audio), expected, atol=1.5 / 32767)
    # round-robin: the short request finishes while the long one is still running, not after it
    last_short = max(i for i, name in enumerate(order) if name == "short")
    assert order[last_short + 1 :].count("long") > 10, order


def test_engine_input_errors_become_invalid_request() -> None:
    async def body(dispatcher: InProcessDispatcher) -> None:
        stream = await dispatcher.submit(job("hello", speaker="Nobody"))
        with pytest.raises(InvalidRequest, match="unknown speaker"):
            await collect(stream, [], "x")

    run_with_dispatcher(FakeEngine(), body)


def test_unexpected_engine_failure_is_reported_and_the_host_keeps_serving() -> None:
    engine = FakeEngine()

    def broken_stream(request: object) -> AsyncIterator[bytes]:
        raise RuntimeError("kaboom")

    async def body(dispatcher: InProcessDispatcher) -> bytes:
        original = engine.stream
        engine.stream = broken_stream  # type: ignore[method-assign,assignment]
        with pytest.raises(SynthesisFailed, match="kaboom"):
            await collect(await dispatcher.submit(job("hello")), [], "x")
        engine.stream = original  # type: ignore[method-assign]
        return await collect(await dispatcher.submit(job("hello")), [], "x")

    assert len(run_with_dispatcher(engine, body)) == 7 * SAMPLES_PER_FRAME * 2


def test_cancel_closes_the_engine_stream_and_frees_the_queue() -> None:
    engine = FakeEngine(delay_s=0.01)

    async def body(dispatcher: InProcessDispatcher) -> int:
        stream = await dispatcher.submit(job("z" * 200))
        await anext(aiter(stream))
        await stream.cancel()
        for _ in range(200):
            if dispatcher.queue_depth() == 0:
                break
            await asyncio.sleep(0.01)
        return dispatcher.queue_depth()

    assert run_with_dispatcher(engine, body) == 0
    assert engine.records[0].closed_early and engine.records[0].chunks <= 1 + 2 + 2  # read + buffered + 2


def test_a_slow_reader_bounds_how_far_generation_runs_ahead() -> None:
    engine = FakeEngine()

    async def body(dispatcher: InProcessDispatcher) -> int:
        stream = await dispatcher.submit(job("w" * 100))
        await asyncio.sleep(0.3)  # read nothing: the host must stop at max_buffered_chunks
        produced = engine.records[0].chunks
        await stream.cancel()
        return produced

    assert run_with_dispatcher(engine, body) <= 3
