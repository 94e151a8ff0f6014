"""The distributed mode's ``JobQueue``: Celery messages, sent only after the job row is committed.

Segment and finalize tasks go to the job's model queue (every worker there can run them); webhook delivery
goes to the control queue. Task names and payloads are in ``workers.job_tasks``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from workers.celery_app import CONTROL_QUEUE
from workers.contracts import model_queue

SEGMENT_TASK = "qwen3_tts.job_segment"
"""Run one segment of a job (``SegmentPayload``); idempotent."""

FINALIZE_TASK = "qwen3_tts.job_finalize"
"""Stitch, encode and finish a job whose segments are all done (``JobPayload``); idempotent, and each run
counts one of the job's bounded finalize attempts."""

DELIVER_TASK = "qwen3_tts.webhooks_deliver"
"""One outbox relay pass; reschedules itself while events are pending."""

MAX_DELIVER_DELAY_S = 300.0  # a pending retry due later is looked at again within this long


class JobPayload(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    model: str


class SegmentPayload(JobPayload):
    position: int


class CeleryJobQueue:
    def __init__(self, app: Any) -> None:
        self._app = app

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None

    def submit(self, job_id: str, *, model: str, positions: list[int]) -> None:
        for position in positions:
            self.segment(job_id, model=model, position=position)
        if not positions:  # a retried job whose segments are all done: only its finalize runs again
            self.finalize(job_id, model=model)

    def segment(self, job_id: str, *, model: str, position: int, countdown: float | None = None) -> None:
        payload = SegmentPayload(job_id=job_id, model=model, position=position).model_dump()
        self._app.send_task(SEGMENT_TASK, args=[payload], queue=model_queue(model), countdown=countdown)

    def finalize(self, job_id: str, *, model: str, countdown: float | None = None) -> None:
        payload = JobPayload(job_id=job_id, model=model).model_dump()
        self._app.send_task(FINALIZE_TASK, args=[payload], queue=model_queue(model), countdown=countdown)

    def deliver_webhooks(self, *, due_at: datetime | None = None, now: datetime | None = None) -> None:
        """Send due outbox events now, or look again when the next one is due (at most 5 min from now)."""
        countdown = None
        if due_at is not None and now is not None:
            countdown = min(max((due_at - now).total_seconds(), 0.5), MAX_DELIVER_DELAY_S)
        self._app.send_task(DELIVER_TASK, args=[{}], queue=CONTROL_QUEUE, countdown=countdown)
