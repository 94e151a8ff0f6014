"""What a worker child holds while it consumes: the engine host, a Redis client, its published status.

Built in ``worker_process_init`` (in the prefork child, after the fork, so CUDA is initialised only there),
it loads and warms every served model (on the host's thread) before the child reports itself up. The Celery
tasks (``workers.tasks``, ``workers.job_tasks``) are thin; the child's one task thread takes one task at a
time, but a stream task only claims its request and hands it to the host, which decodes up to ``capacity``
requests together (``optimization.max_batch_size``, the engine's batch). The task returns while its stream
runs on; it blocks only while the host is full, which is what stops a busy child from taking more tasks, so
queued requests go to idle workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import ExitStack
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import RedisError

from common.errors import ServiceError
from common.redis_stream import RedisChunkWriter, StreamKeys, StreamLimits
from workers.contracts import CanaryPayload, CanaryReply, SynthesisJob, WorkerStatus, worker_key
from workers.engine_host import EngineHost
from workers.residency import ModelResidency

log = logging.getLogger(__name__)


class StreamSink:
    """The host's ``ChunkSink`` for one claimed request: its ``RedisChunkWriter``, whose lease heartbeat
    runs from the hand-off until the final entry is written (``close``)."""

    def __init__(self, writer: RedisChunkWriter, request_id: str) -> None:
        self._writer = writer
        self._request_id = request_id
        self._heartbeat = ExitStack()
        self._heartbeat.enter_context(writer.heartbeat())

    @property
    def is_cancelled(self) -> bool:
        return self._writer.is_cancelled

    def has_room(self) -> bool:
        return True  # never wait for the reader: the audio waits in Redis

    def put(self, pcm: bytes) -> None:
        self._writer.put(pcm)

    def close(self, error: ServiceError | None = None) -> None:
        with self._heartbeat:
            if error is None and self._writer.is_cancelled:
                log.info("request %s cancelled after %d chunks", self._request_id, self._writer.num_chunks)
            self._writer.close(error)


class WorkerRuntime:
    def __init__(
        self,
        *,
        redis: Any,
        key_prefix: str,
        limits: StreamLimits,
        host: EngineHost,
        residency: ModelResidency,
        capacity: int,
        shutdown_timeout_s: float,
        hostname: str | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._limits = limits
        self._host = host
        self._residency = residency
        self._capacity = capacity
        self._shutdown_timeout_s = shutdown_timeout_s
        self.hostname = hostname or socket.gethostname()
        self._owner = f"{self.hostname}:{os.getpid()}"
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    # -- lifecycle (worker_process_init / worker_process_shutdown) -----------------------------------------
    def start(self) -> None:
        """Load and warm every served model, then announce this worker (its status key) and keep it fresh."""
        self._host.start()
        self._host.wait_ready()  # a loading failure raises: the child does not come up
        self.publish_status()
        self._publisher = threading.Thread(target=self._publish_loop, name="worker-status", daemon=True)
        self._publisher.start()
        log.info(
            "worker %s ready: serving %s, up to %d requests at once (optimization.max_batch_size)",
            self._owner,
            ", ".join(self._host.model_names()),
            self._capacity,
        )

    def close(self) -> None:
        """Let the requests in flight finish (up to the soft shutdown timeout), close the rest with an error
        entry, then withdraw this worker's status and unload the models."""
        if not self._host.drain(self._shutdown_timeout_s):
            log.warning(
                "shutting down with %s still running after %g s: they end with an error",
                ", ".join(self._host.running()),
                self._shutdown_timeout_s,
            )
        self._host.close()
        self._stop.set()
        self._redis.delete(worker_key(self._prefix, self.hostname))
        self._residency.clear()

    # -- tasks ---------------------------------------------------------------------------------------------
    def run_stream(self, job: SynthesisJob, *, stream_id: str) -> None:
        """Claim the request, hand it to the host, and return once the host has room for another."""
        keys = StreamKeys.of(self._prefix, stream_id)
        writer = RedisChunkWriter(self._redis, keys, self._limits, owner=self._owner)
        if not writer.claim():
            why = "its client is gone" if writer.is_cancelled else "already claimed (a redelivery)"
            log.info("request %s skipped: %s", job.request_id, why)
            return
        sink = StreamSink(writer, job.request_id)
        try:
            self._host.submit(job, sink)
        except ServiceError as e:
            sink.close(e)
            return
        self._publish_quietly()  # the new request shows in the status at once, not on the next beat
        try:
            self._host.wait_for_room(self._capacity)
        except SoftTimeLimitExceeded:  # the host enforces the time limits of the streams it runs
            log.warning("request %s: the host stayed full until the task's time limit", job.request_id)

    def canary(self, payload: CanaryPayload) -> None:
        reply = CanaryReply(hostname=self.hostname, pid=os.getpid())
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(payload.reply_key, reply.model_dump_json())
        pipe.expire(payload.reply_key, payload.reply_ttl_s)
        pipe.execute()

    # -- status --------------------------------------------------------------------------------------------
    def status(self) -> WorkerStatus:
        running = self._host.running()
        return WorkerStatus(
            hostname=self.hostname,
            pid=os.getpid(),
            models=tuple(self._host.models()),
            resident=self._residency.resident,
            running=running[0] if running else None,
            in_flight=running,
            capacity=self._capacity,
        )

    def publish_status(self) -> None:
        ttl_ms = max(1000, int(self._limits.lease_ttl_s * 3000))
        self._redis.set(worker_key(self._prefix, self.hostname), self.status().model_dump_json(), px=ttl_ms)

    def _publish_quietly(self) -> None:
        try:
            self.publish_status()
        except RedisError as e:  # the key outlives a few misses
            log.warning("publishing worker status failed: %s", e)
        except RuntimeError as e:  # the residency changed under the read (a model loading): next beat
            log.info("worker status skipped: %s", e)

    def _publish_loop(self) -> None:
        while not self._stop.wait(self._limits.lease_ttl_s):
            self._publish_quietly()
