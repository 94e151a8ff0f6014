"""The chunk-stream protocol on the real Redis: order, final entries, TTLs, caps, cancel, dead writers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from common.errors import InvalidRequest, ServiceError, SynthesisFailed, Unavailable
from common.redis_stream import RedisChunkWriter, StreamKeys, StreamLimits
from common.redis_stream_reader import RedisChunkStream
from common.subtitles import Word
from common.word_timings import PieceWords

LIMITS = StreamLimits(ttl_s=60, max_entries=1000, lease_ttl_s=0.5, start_timeout_s=1.0)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield client
    client.close()


def writer_for(client: redis.Redis, keys: StreamKeys, limits: StreamLimits = LIMITS) -> RedisChunkWriter:
    return RedisChunkWriter(client, keys, limits, owner="test-worker:1")


async def read_all(
    redis_url: str, keys: StreamKeys, limits: StreamLimits = LIMITS, *, max_chunks: int | None = None
) -> tuple[list[bytes], ServiceError | None, float]:
    """Chunks read, the error that ended the stream (or None), seconds taken."""
    client = redis.asyncio.Redis.from_url(redis_url)
    stream = RedisChunkStream(client, keys, limits, poll_s=0.05)
    chunks: list[bytes] = []
    started = time.monotonic()
    try:
        async for chunk in stream:
            chunks.append(chunk)
            if max_chunks is not None and len(chunks) == max_chunks:
                await stream.cancel()
                break
    except ServiceError as e:
        return chunks, e, time.monotonic() - started
    finally:
        await client.aclose()
    return chunks, None, time.monotonic() - started


def test_a_late_reader_gets_every_chunk_in_order(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "late")
    writer = writer_for(client, keys)
    assert writer.claim()
    sent = [bytes([i]) * 960 for i in range(40)]
    for chunk in sent:
        writer.put(chunk)
    writer.close()
    chunks, error, _ = asyncio.run(read_all(redis_url, keys))
    assert error is None
    assert chunks == sent


def test_a_concurrent_reader_sees_chunks_as_they_are_written(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "live")
    writer = writer_for(client, keys)

    async def scenario() -> tuple[list[bytes], ServiceError | None, float]:
        reader = asyncio.create_task(read_all(redis_url, keys))
        await asyncio.sleep(0.1)
        assert writer.claim()
        for i in range(5):
            writer.put(bytes([i]) * 4)
            await asyncio.sleep(0.02)
        writer.close()
        return await reader

    chunks, error, _ = asyncio.run(scenario())
    assert error is None and chunks == [bytes([i]) * 4 for i in range(5)]


def test_an_error_entry_is_rebuilt_as_the_same_domain_error(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "err")
    writer = writer_for(client, keys)
    assert writer.claim()
    writer.put(b"\x00\x00")
    writer.close(InvalidRequest("unknown speaker 'x'", code="voice_not_found"))
    chunks, error, _ = asyncio.run(read_all(redis_url, keys))
    assert chunks == [b"\x00\x00"]
    assert isinstance(error, InvalidRequest) and error.status == 400
    assert error.code == "voice_not_found" and error.message == "unknown speaker 'x'"


def test_every_key_expires(client: redis.Redis, redis_url: str, redis_prefix: str) -> None:
    keys = StreamKeys.of(redis_prefix, "ttl")
    writer = writer_for(client, keys)
    assert writer.claim()
    assert 0 < client.pttl(keys.lease) <= 500
    writer.put(b"ab")
    assert 0 < client.ttl(keys.stream) <= 60 and 0 < client.ttl(keys.claim) <= 60
    asyncio.run(read_all(redis_url, keys, max_chunks=1))  # cancels after one chunk
    assert 0 < client.ttl(keys.cancel) <= 60
    writer.close()
    assert not client.exists(keys.lease)


def test_a_stream_read_to_its_end_is_deleted_and_its_claim_stays(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    """The audio does not sit in Redis for the TTL once read (a load of 64 streams kept every request's audio
    for 15 minutes); the claim still turns a redelivered task away."""
    keys = StreamKeys.of(redis_prefix, "done")
    writer = writer_for(client, keys)
    assert writer.claim()
    writer.put(b"ab" * 480)
    writer.close()
    chunks, error, _ = asyncio.run(read_all(redis_url, keys))
    assert error is None and chunks == [b"ab" * 480]
    assert not client.exists(keys.stream)
    assert not writer_for(client, keys).claim()


def test_the_stream_is_capped_and_a_reader_behind_the_cap_gets_an_error(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    limits = StreamLimits(ttl_s=60, max_entries=100, lease_ttl_s=0.5, start_timeout_s=1.0)
    keys = StreamKeys.of(redis_prefix, "cap")
    writer = writer_for(client, keys, limits)
    assert writer.claim()
    for i in range(1000):
        writer.put(i.to_bytes(2, "little"))
    writer.close()
    assert client.xlen(keys.stream) < 300  # MAXLEN ~ trims in whole radix-tree nodes
    chunks, error, _ = asyncio.run(read_all(redis_url, keys, limits))
    assert chunks == []
    assert isinstance(error, SynthesisFailed) and error.code == "stream_gap"


def test_cancel_reaches_the_writer_and_blocks_a_later_claim(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "cancel")
    writer = writer_for(client, keys)
    assert writer.claim()
    for _ in range(3):
        writer.put(b"xx")
    assert not writer.is_cancelled
    asyncio.run(read_all(redis_url, keys, max_chunks=2))
    writer.put(b"xx")
    assert writer.is_cancelled
    assert int(client.get(keys.cancel)) == 2  # how many chunks the reader had taken
    assert not writer_for(client, StreamKeys.of(redis_prefix, "cancel")).claim()


def test_a_request_is_claimed_once(client: redis.Redis, redis_prefix: str) -> None:
    keys = StreamKeys.of(redis_prefix, "once")
    assert writer_for(client, keys).claim()
    assert not writer_for(client, keys).claim()


def test_a_writer_that_dies_mid_stream_fails_the_reader_within_the_lease(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "dead")
    writer = writer_for(client, keys)
    assert writer.claim()
    writer.put(b"ok")  # then nothing: no final entry, no heartbeat
    chunks, error, took = asyncio.run(read_all(redis_url, keys))
    assert chunks == [b"ok"]
    assert isinstance(error, SynthesisFailed) and error.code == "worker_lost"
    assert took < 2.0


def test_a_request_no_worker_starts_fails_after_the_start_timeout(redis_url: str, redis_prefix: str) -> None:
    chunks, error, took = asyncio.run(read_all(redis_url, StreamKeys.of(redis_prefix, "nobody")))
    assert chunks == [] and isinstance(error, Unavailable)
    assert 1.0 <= took < 2.5


def test_the_heartbeat_keeps_a_slow_worker_alive(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "slow")
    writer = writer_for(client, keys)

    async def scenario() -> tuple[list[bytes], ServiceError | None, float]:
        reader = asyncio.create_task(read_all(redis_url, keys))
        assert writer.claim()
        with writer.heartbeat():
            await asyncio.sleep(1.5)  # three lease periods without a chunk (a model loading)
            writer.put(b"late")
        writer.close()
        return await reader

    chunks, error, _ = asyncio.run(scenario())
    assert error is None and chunks == [b"late"]


def test_word_entries_follow_their_audio_without_counting_as_audio(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    keys = StreamKeys.of(redis_prefix, "words")
    writer = writer_for(client, keys)
    assert writer.claim()
    words = PieceWords(piece=0, offset_s=0.25, words=(Word("Hello", 0.0, 0.32), Word("world", 0.4, 0.8)))
    writer.put(b"\x01\x00" * 480)
    writer.put(words)
    writer.put(b"\x02\x00" * 480)
    writer.close()
    items, error, _ = asyncio.run(read_all(redis_url, keys))
    assert error is None
    assert items == [b"\x01\x00" * 480, words, b"\x02\x00" * 480]
    assert writer.num_chunks == 2
