"""The Celery tasks: explicitly named, one JSON payload each, validated, then handed to the worker runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from workers.contracts import CANARY_TASK, SYNTHESIZE_STREAM_TASK, CanaryPayload, StreamPayload
from workers.runtime import WorkerRuntime


class RuntimeSlot:
    """This process's runtime: filled in ``worker_process_init`` (after the fork), read by tasks."""

    def __init__(self) -> None:
        self._runtime: WorkerRuntime | None = None

    def set(self, runtime: WorkerRuntime | None) -> None:
        self._runtime = runtime

    @property
    def is_set(self) -> bool:
        return self._runtime is not None

    def __call__(self) -> WorkerRuntime:
        if self._runtime is None:
            raise RuntimeError("the worker runtime is not initialised (worker_process_init did not run)")
        return self._runtime


def register_tasks(app: Celery, runtime: Callable[[], WorkerRuntime]) -> None:
    @app.task(name=SYNTHESIZE_STREAM_TASK, acks_late=True, reject_on_worker_lost=True)
    def synthesize_stream(payload: dict[str, Any]) -> None:
        task = StreamPayload.model_validate(payload)
        runtime().run_stream(task.job, stream_id=task.stream_id)

    @app.task(name=CANARY_TASK, acks_late=False)
    def canary(payload: dict[str, Any]) -> None:
        runtime().canary(CanaryPayload.model_validate(payload))
