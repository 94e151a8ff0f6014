"""``common.ports.Dispatcher`` for the distributed mode: Celery tasks out, Redis chunk streams back.

The composition root builds it; the web layer only sees the port (it never imports Celery). Models come from
the workers' published status (``WorkerStatus`` keys, refreshed in the background), so a request is routed
only to a model some live worker serves. ``is_ready`` proves consumption: a canary task sent to each served
model queue must come back within ``canary_timeout_s`` (a worker busy running a request counts as consuming),
and the answer is cached for ``readiness_cache_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from celery import Celery
from pydantic import ValidationError
from redis.exceptions import RedisError

from common.contracts import ModelInfo
from common.errors import Unavailable
from common.redis_options import redis_client_options
from common.redis_stream import StreamKeys, StreamLimits
from common.redis_stream_reader import RedisChunkStream
from common.settings import Settings
from workers.celery_app import create_celery_app
from workers.contracts import (
    CANARY_TASK,
    SYNTHESIZE_STREAM_TASK,
    CanaryPayload,
    StreamPayload,
    SynthesisJob,
    WorkerStatus,
    model_queue,
    worker_pattern,
)

log = logging.getLogger(__name__)

REFRESH_S = 1.0


class CeleryDispatcher:
    def __init__(self, app: Celery, redis: Any, settings: Settings, *, refresh_s: float = REFRESH_S) -> None:
        self._app = app
        self._redis = redis  # redis.asyncio.Redis
        self._options = settings.distributed
        self._limits = StreamLimits.from_options(settings.distributed)
        self._refresh_s = refresh_s
        self._workers: list[WorkerStatus] = []
        self._models: dict[str, ModelInfo] = {}
        self._registry_fresh = False
        self._in_flight = 0
        self._ready: tuple[float, bool] = (0.0, False)
        self._ready_lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, app: Celery | None = None) -> CeleryDispatcher:
        """``app``: the process's Celery app when other senders share it (``close`` closes it)."""
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.redis_url, **redis_client_options(asyncio=True))
        return cls(app or create_celery_app(settings), client, settings)

    async def start(self) -> None:
        await self._refresh()
        await asyncio.to_thread(self._connect_broker)  # the first request does not pay for it
        self._refresher = asyncio.create_task(self._refresh_loop(), name="worker-registry")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self._redis.aclose()
        await asyncio.to_thread(self._app.close)

    def models(self) -> Sequence[ModelInfo]:
        return list(self._models.values())

    async def ping(self) -> None:
        """Raises when Redis does not answer (``/readyz``'s ``redis`` check)."""
        await self._redis.ping()

    def rows(self) -> int | None:
        """Decode rows of the live workers, from their heartbeats (0 with none: every request would wait)."""
        return sum(worker.capacity for worker in self._workers)

    def queue_depth(self) -> int:
        """Requests this API process has sent and not finished reading."""
        return self._in_flight

    async def is_ready(self) -> bool:
        async with self._ready_lock:
            checked_at, ready = self._ready
            if time.monotonic() - checked_at < self._options.readiness_cache_s:
                return ready
            ready = await self._probe()
            self._ready = (time.monotonic(), ready)
            return ready

    async def submit(self, job: SynthesisJob) -> RedisChunkStream:
        if job.model not in self._models:
            served = ", ".join(self._models) or "none"
            raise Unavailable(f"no live worker serves model {job.model!r} (served: {served})")
        stream_id = f"{job.request_id}.{secrets.token_hex(8)}"
        keys = StreamKeys.of(self._options.key_prefix, stream_id)
        stream = RedisChunkStream(self._redis, keys, self._limits, on_end=self._done)
        self._in_flight += 1
        try:
            await asyncio.to_thread(self._send_stream_task, StreamPayload(job=job, stream_id=stream_id))
        except Exception as e:
            self._done()
            raise Unavailable(f"could not queue the request: {e}") from e
        return stream

    # -- internals -----------------------------------------------------------------------------------------
    def _done(self) -> None:
        self._in_flight -= 1

    def _connect_broker(self) -> None:
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)

    def _send_stream_task(self, payload: StreamPayload) -> None:
        self._app.send_task(
            SYNTHESIZE_STREAM_TASK,
            args=[payload.model_dump(mode="json")],
            queue=model_queue(payload.job.model),
            expires=self._limits.start_timeout_s,
        )

    async def _probe(self) -> bool:
        if not self._workers or not self._registry_fresh:
            return False
        if any(w.running is not None for w in self._workers):
            return True  # a worker is running a task right now: it consumes
        reply_key = f"{self._options.key_prefix}canary:{secrets.token_hex(8)}"
        payload = CanaryPayload(reply_key=reply_key).model_dump(mode="json")
        timeout = self._options.canary_timeout_s
        try:
            for queue in {model_queue(name) for name in self._models}:
                await asyncio.to_thread(
                    self._app.send_task, CANARY_TASK, args=[payload], queue=queue, expires=timeout
                )
            reply = await self._redis.blpop([reply_key], timeout=timeout)
        except (RedisError, OSError) as e:
            log.warning("readiness canary failed: %s", e)
            return False
        finally:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(reply_key)
        return reply is not None

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self._refresh()
            except (RedisError, OSError) as e:
                self._registry_fresh = False  # what it holds may be stale: not ready until it refreshes
                log.warning("refreshing the worker registry failed: %s", e)

    async def _refresh(self) -> None:
        keys = [key async for key in self._redis.scan_iter(match=worker_pattern(self._options.key_prefix))]
        values = await self._redis.mget(keys) if keys else []
        workers = []
        for raw in values:
            if raw is None:  # expired between SCAN and MGET
                continue
            try:
                workers.append(WorkerStatus.model_validate_json(raw))
            except ValidationError as e:
                log.warning("ignoring a malformed worker status: %s", e)
        self._workers = workers
        self._models = {info.name: info for worker in workers for info in worker.models}
        self._registry_fresh = True
