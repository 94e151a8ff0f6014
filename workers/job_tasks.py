"""The Celery tasks of async jobs: segment → (all done) finalize → webhook delivery.

Thin: validate the payload, call the shared runner (``workers.jobs``), send the follow-up message. Every task
is idempotent and acknowledged late (``task_acks_late`` + ``task_reject_on_worker_lost``): a worker killed
mid-task gets its message redelivered, and the database (attempt counters, done flags, exactly-once finish)
decides what is left to do. A segment task submits its text to the child's engine host, where it runs with
the live streams, and waits for the audio (``workers.jobs.synthesis.HostSynthesizer``): it is acknowledged
only once the audio is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from common.webhooks.relay import OutboxRelay
from voice_store.models.base import utcnow
from workers.jobs.celery_queue import (
    DELIVER_TASK,
    FINALIZE_TASK,
    SEGMENT_TASK,
    CeleryJobQueue,
    JobPayload,
    SegmentPayload,
)
from workers.jobs.failures import FinalizeOutcome, FinalizeRunner
from workers.jobs.segment_retry import SegmentRetry
from workers.jobs.segments import SegmentOutcome, SegmentRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobWorker:
    """What the job tasks of one worker process use (built after the fork, in ``worker_process_init``)."""

    runner: SegmentRunner
    finalizer: FinalizeRunner
    relay: OutboxRelay
    queue: CeleryJobQueue
    segment_retry: SegmentRetry
    sessions: sessionmaker[Session]


def register_job_tasks(app: Celery, worker: Callable[[], JobWorker]) -> None:
    @app.task(name=SEGMENT_TASK, acks_late=True, reject_on_worker_lost=True)
    def job_segment(payload: dict[str, Any]) -> str:
        task = SegmentPayload.model_validate(payload)
        context = worker()
        outcome = context.runner.run(task.job_id, task.position)
        if outcome is SegmentOutcome.RETRY:
            delay = context.segment_retry.after(context.sessions, task.job_id, task.position)
            context.queue.segment(task.job_id, model=task.model, position=task.position, countdown=delay)
        elif outcome is SegmentOutcome.READY:
            context.queue.finalize(task.job_id, model=task.model)
        elif outcome is SegmentOutcome.FAILED:
            context.queue.deliver_webhooks()
        return outcome.value

    @app.task(name=FINALIZE_TASK, acks_late=True, reject_on_worker_lost=True)
    def job_finalize(payload: dict[str, Any]) -> str:
        task = JobPayload.model_validate(payload)
        context = worker()
        result = context.finalizer.run(task.job_id)
        if result.outcome is FinalizeOutcome.RETRY:  # a transient failure: bounded by the attempt counter
            context.queue.finalize(task.job_id, model=task.model, countdown=result.retry_in_s)
        else:
            context.queue.deliver_webhooks()  # also after a redelivery that found the job finished
        return result.outcome.value

    @app.task(name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True)
    def webhooks_deliver(_payload: dict[str, Any]) -> int:
        context = worker()
        result = context.relay.run_once()
        if result.next_due_at is not None:
            context.queue.deliver_webhooks(due_at=result.next_due_at, now=utcnow())
        return result.delivered
