"""What a worker process holds while it consumes: resident models, a Redis client, its published status.

Built in ``worker_process_init`` (in the prefork child, after the fork, so CUDA is initialised only there),
it loads and warms every served model before the child reports itself up, then runs tasks one at a time.
The Celery tasks (``workers.tasks``) are thin: they validate the payload and call ``run_stream``/``canary``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import RedisError

from common.errors import SynthesisFailed
from common.redis_stream import RedisChunkWriter, StreamKeys, StreamLimits
from workers.contracts import CanaryPayload, CanaryReply, SynthesisJob, WorkerStatus, worker_key
from workers.engine_port import Engine, JobOptions, service_error
from workers.residency import ModelResidency

log = logging.getLogger(__name__)

WARMUP_TEXT = "Hello."
WARMUP_FRAMES = 8


class WorkerRuntime:
    def __init__(
        self,
        *,
        redis: Any,
        key_prefix: str,
        limits: StreamLimits,
        models: Sequence[str],
        residency: ModelResidency,
        jobs: JobOptions,
        hostname: str | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._limits = limits
        self._models = tuple(models)
        self._residency = residency
        self._jobs = jobs
        self.hostname = hostname or socket.gethostname()
        self._owner = f"{self.hostname}:{os.getpid()}"
        self._running: str | None = None
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    # -- lifecycle (worker_process_init / worker_process_shutdown) -----------------------------------------
    def start(self) -> None:
        """Load and warm every served model, then announce this worker (its status key) and keep it fresh."""
        for name in self._models:
            self._warm(name, self._residency.get(name))
        self.publish_status()
        self._publisher = threading.Thread(target=self._publish_loop, name="worker-status", daemon=True)
        self._publisher.start()
        log.info("worker %s ready: serving %s", self._owner, ", ".join(self._models))

    def close(self) -> None:
        self._stop.set()
        self._redis.delete(worker_key(self._prefix, self.hostname))
        self._residency.clear()

    # -- tasks ---------------------------------------------------------------------------------------------
    def run_stream(self, job: SynthesisJob, *, stream_id: str) -> None:
        keys = StreamKeys.of(self._prefix, stream_id)
        writer = RedisChunkWriter(self._redis, keys, self._limits, owner=self._owner)
        if not writer.claim():
            why = "its client is gone" if writer.is_cancelled else "already claimed (a redelivery)"
            log.info("request %s skipped: %s", job.request_id, why)
            return
        self._running = job.request_id
        audio = None
        try:
            with writer.heartbeat():
                engine = self._residency.get(job.model)
                audio = self._jobs.audio(engine, job)
                for pcm in audio:
                    writer.put(pcm)
                    if writer.is_cancelled:
                        log.info("request %s cancelled after %d chunks", job.request_id, writer.num_chunks)
                        break
                audio.close()  # stop generation before the final entry is written
                writer.close()
        except SoftTimeLimitExceeded:
            writer.close(SynthesisFailed("the request ran past the worker's time limit", code="time_limit"))
        except Exception as e:
            writer.close(service_error(e, job.request_id))
        finally:
            if audio is not None:
                audio.close()
            self._running = None

    def canary(self, payload: CanaryPayload) -> None:
        reply = CanaryReply(hostname=self.hostname, pid=os.getpid())
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(payload.reply_key, reply.model_dump_json())
        pipe.expire(payload.reply_key, payload.reply_ttl_s)
        pipe.execute()

    # -- internals -----------------------------------------------------------------------------------------
    def _warm(self, name: str, engine: Engine) -> None:
        """One short synthesis, so the first request pays no lazy set-up (caches, kernels, graphs)."""
        info = self._residency.info(name)
        if info is None or info.model_type == "base":  # a clone needs a reference voice: warmed on first use
            return
        job = SynthesisJob(
            request_id="warmup",
            model=name,
            pieces=(WARMUP_TEXT,),
            speaker=info.speakers[0] if info.model_type == "custom_voice" and info.speakers else None,
            instruct="A calm, clear voice." if info.model_type == "voice_design" else None,
        )
        for _ in self._jobs.audio(engine, job, max_frames=WARMUP_FRAMES):
            pass

    def status(self) -> WorkerStatus:
        infos = tuple(info for name in self._models if (info := self._residency.info(name)) is not None)
        return WorkerStatus(
            hostname=self.hostname,
            pid=os.getpid(),
            models=infos,
            resident=self._residency.resident,
            running=self._running,
        )

    def publish_status(self) -> None:
        ttl_ms = max(1000, int(self._limits.lease_ttl_s * 3000))
        self._redis.set(worker_key(self._prefix, self.hostname), self.status().model_dump_json(), px=ttl_ms)

    def _publish_loop(self) -> None:
        period = self._limits.lease_ttl_s
        while not self._stop.wait(period):
            try:
                self.publish_status()
            except RedisError as e:  # the key outlives a few misses
                log.warning("publishing worker status failed: %s", e)
