"""Job events: written by the job transitions, read by ``GET /v1/jobs/{id}/events``.

API (keyword-only; writers flush but never commit: they run inside a transition's transaction)::

    record_progress(session=s, job=job)   # after a segment is done: job.progress
    record_end(session=s, job=job)        # a job has just ended: job.chapter.completed per chapter output
                                          # (succeeded jobs), then job.succeeded | job.failed | job.canceled
    events = list_events(session=s, job_id=..., after_id=41, limit=100)   # oldest first, id > after_id

Event ``data`` holds what the event says at the moment it happened (counters, outputs without URLs: URLs are
the web layer's business and are added when an event is sent). Terminal types match the webhook event types.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_store.models.job_events import JobEvent
from voice_store.models.jobs import Job

PROGRESS = "job.progress"
CHAPTER_COMPLETED = "job.chapter.completed"
TERMINAL_TYPES = frozenset({"job.succeeded", "job.failed", "job.canceled"})


def progress_data(job: Job) -> dict[str, Any]:
    return {
        "segments_done": job.segments_done,
        "segments_total": job.segments_total,
        "audio_seconds": round(job.audio_seconds, 3),
    }


def record_progress(*, session: Session, job: Job) -> JobEvent:
    return _add(session, job, PROGRESS, progress_data(job))


def record_end(*, session: Session, job: Job) -> list[JobEvent]:
    """The events of a job that has just reached its terminal status (called once, by ``end_job``)."""
    outputs = [_output(o) for o in job.outputs or []]
    chapters = [o for o in outputs if o["chapter"] is not None and o["kind"] == "audio"]
    events = [_add(session, job, CHAPTER_COMPLETED, o) for o in chapters]
    error = None
    if job.error_code:
        error = {"code": job.error_code, "message": job.error_message, "step": job.error_step}
    terminal = progress_data(job) | {"status": job.status.value, "outputs": outputs, "error": error}
    events.append(_add(session, job, f"job.{job.status.value}", terminal))
    return events


def list_events(*, session: Session, job_id: str, after_id: int = 0, limit: int = 100) -> list[JobEvent]:
    statement = (
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
        .order_by(JobEvent.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def _output(output: dict[str, Any]) -> dict[str, Any]:
    fields = {key: output.get(key) for key in ("chapter", "title", "format", "duration_s")}
    return fields | {"kind": output.get("kind", "audio")}


def _add(session: Session, job: Job, event_type: str, data: dict[str, Any]) -> JobEvent:
    event = JobEvent(job_id=job.id, type=event_type, data=data)
    session.add(event)
    session.flush()
    return event
