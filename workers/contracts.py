"""What crosses the web ↔ worker boundary in the distributed mode: task names, queues, payloads, registry.

Plain pydantic, no torch and no Celery: the API process imports this to enqueue work, workers to accept it.
Payloads are JSON (the Celery serializer is ``json``); a task takes one payload dict and re-validates it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from common.contracts import SAMPLE_RATE, ModelInfo, SynthesisJob

__all__ = [
    "CANARY_TASK",
    "SAMPLE_RATE",
    "SYNTHESIZE_STREAM_TASK",
    "CanaryPayload",
    "CanaryReply",
    "StreamPayload",
    "SynthesisJob",
    "WorkerStatus",
    "model_queue",
    "worker_key",
    "worker_pattern",
]

SYNTHESIZE_STREAM_TASK = "qwen3_tts.synthesize_stream"
"""Run one ``SynthesisJob`` and write its audio to the request's chunk stream (``common.redis_stream``)."""

CANARY_TASK = "qwen3_tts.canary"
"""Readiness probe: a worker that consumes the model's queue pushes a ``CanaryReply`` to ``reply_key``."""

_QUEUE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def model_queue(model: str) -> str:
    """The queue of one model variant: every worker that serves ``model`` consumes it."""
    return "tts." + _QUEUE_UNSAFE.sub("_", model)


def worker_key(prefix: str, hostname: str) -> str:
    """Where a worker publishes its ``WorkerStatus`` (a key with a short TTL, refreshed while it lives)."""
    return f"{prefix}worker:{hostname}"


def worker_pattern(prefix: str) -> str:
    return f"{prefix}worker:*"


class StreamPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    job: SynthesisJob
    stream_id: str = Field(
        min_length=1,
        max_length=200,
        description="names the request's chunk-stream keys; unique per submission (the request id is "
        "client-supplied and may repeat), so two requests can never share audio",
    )


class CanaryPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    reply_key: str = Field(min_length=1)
    reply_ttl_s: int = Field(default=30, ge=1)


class CanaryReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    hostname: str
    pid: int


class WorkerStatus(BaseModel):
    """A live worker: the models it serves (its queues), which of them are resident, what it is running.

    A worker child runs up to ``capacity`` requests at once (streams and job segments, decoded together);
    ``in_flight`` lists them all. ``running`` is the oldest of them, kept for readers that know one field."""

    model_config = ConfigDict(frozen=True)

    hostname: str
    pid: int
    models: tuple[ModelInfo, ...]
    resident: tuple[str, ...] = ()
    running: str | None = Field(default=None, description="request id of the oldest request it is running")
    in_flight: tuple[str, ...] = Field(default=(), description="request ids of every request it is running")
    capacity: int = Field(
        default=1, ge=1, description="requests it runs at once (optimization.max_batch_size)"
    )
