"""The Celery tasks: explicitly named, one JSON payload each, validated, then handed to the worker runtime.

The stream task returns once its request is claimed and handed to the child's engine host (or when the host
has room again, if it is full): the audio is written by the host, not by the task (``workers.runtime``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from celery import Celery

from workers.contracts import CANARY_TASK, SYNTHESIZE_STREAM_TASK, CanaryPayload, StreamPayload
from workers.job_tasks import JobWorker
from workers.runtime import WorkerRuntime

T = TypeVar("T")


class Slot(Generic[T]):
    """Per-process state: filled in ``worker_process_init`` (after the fork), read by the tasks."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, value: T | None) -> None:
        self._value = value

    @property
    def is_set(self) -> bool:
        return self._value is not None

    def __call__(self) -> T:
        if self._value is None:
            raise RuntimeError("the worker process is not initialised (worker_process_init did not run)")
        return self._value


RuntimeSlot = Slot[WorkerRuntime]
JobWorkerSlot = Slot[JobWorker]


def register_tasks(app: Celery, runtime: Callable[[], WorkerRuntime]) -> None:
    @app.task(name=SYNTHESIZE_STREAM_TASK, acks_late=True, reject_on_worker_lost=True)
    def synthesize_stream(payload: dict[str, Any]) -> None:
        task = StreamPayload.model_validate(payload)
        runtime().run_stream(task.job, stream_id=task.stream_id)

    @app.task(name=CANARY_TASK, acks_late=False)
    def canary(payload: dict[str, Any]) -> None:
        runtime().canary(CanaryPayload.model_validate(payload))
