"""``CeleryDispatcher`` readiness proves a worker consumes, not only that Redis answers (real Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from common.contracts import ModelInfo, SynthesisJob
from common.errors import Unavailable
from common.settings import Settings, load_settings
from tests.fixtures.redis_keys import isolated_namespace
from workers.contracts import WorkerStatus, worker_key
from workers.dispatcher import CeleryDispatcher

MODEL = ModelInfo(name="fake-CustomVoice", model_type="custom_voice", speakers=("Vivian",))


@pytest.fixture
def settings(redis_url: str) -> Iterator[Settings]:
    with isolated_namespace(redis_url) as namespace:
        yield load_settings(
            env={
                "QWEN_TTS_REDIS_URL": redis_url,
                "QWEN_TTS_MODELS": '{"fake-CustomVoice": "/nonexistent"}',
                "QWEN_TTS_DEFAULT_MODEL": "fake-CustomVoice",
                "QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": namespace,
                "QWEN_TTS_DISTRIBUTED__CANARY_TIMEOUT_S": "0.5",
                "QWEN_TTS_DISTRIBUTED__READINESS_CACHE_S": "0",
            }
        )


def plant_status(settings: Settings, *, running: str | None = None) -> None:
    """A worker status as a worker publishes it, with no worker behind it."""
    status = WorkerStatus(hostname="ghost@test", pid=1, models=(MODEL,), running=running)
    client = redis.Redis.from_url(settings.redis_url)
    client.set(worker_key(settings.distributed.key_prefix, "ghost@test"), status.model_dump_json(), ex=30)
    client.close()


async def check(settings: Settings) -> tuple[list[str], bool, float]:
    dispatcher = CeleryDispatcher.from_settings(settings)
    await dispatcher.start()
    try:
        started = time.monotonic()
        ready = await dispatcher.is_ready()
        return [m.name for m in dispatcher.models()], ready, time.monotonic() - started
    finally:
        await dispatcher.close()


def test_no_worker_means_no_models_and_not_ready(settings: Settings) -> None:
    assert asyncio.run(check(settings))[:2] == ([], False)


def test_a_published_status_without_a_consuming_worker_is_not_ready(settings: Settings) -> None:
    plant_status(settings)
    models, ready, took = asyncio.run(check(settings))
    assert models == [MODEL.name]  # routing sees the model ...
    assert not ready  # ... but nobody answered the canary
    assert took < 2.0


def test_a_worker_busy_with_a_request_counts_as_consuming(settings: Settings) -> None:
    plant_status(settings, running="req-1")
    assert asyncio.run(check(settings))[1]


def test_a_model_no_live_worker_serves_is_refused_at_once(settings: Settings) -> None:
    async def submit() -> None:
        dispatcher = CeleryDispatcher.from_settings(settings)
        await dispatcher.start()
        try:
            await dispatcher.submit(SynthesisJob(request_id="r1", model="fake-CustomVoice", pieces=("Hi.",)))
        finally:
            await dispatcher.close()

    with pytest.raises(Unavailable, match="no live worker serves"):
        asyncio.run(submit())
