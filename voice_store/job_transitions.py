"""Job state transitions (issue 7): what segment tasks, the finalize step and cancel requests call.

API (keyword-only; functions flush but never commit; run each in ``session_scope(..., write=True)``)::

    start = start_segment(session=s, job_id=..., position=3, max_attempts=3)   # run only if start.should_run
    ready = complete_segment(session=s, job_id=..., position=3, audio_blob_key=..., audio_seconds=2.1)
    job = fail_segment(session=s, job_id=..., position=3, error="...", max_attempts=3)
    finished = finish_job(session=s, job_id=..., status=JobStatus.SUCCEEDED, outputs=[...])
    job = cancel_job(session=s, job_id=...)

Guarantees. Every transition locks the job row first (``SELECT ... FOR UPDATE`` on Postgres; ``write=True``
makes SQLite serialize them too), so concurrent segment tasks never lose a progress update. A done segment is
never redone (``start_segment`` says ``ALREADY_DONE``) and completing it again changes nothing. Each
``start_segment`` counts an attempt, so a segment whose worker keeps dying fails the job after
``max_attempts`` instead of looping. ``complete_segment`` returns True whenever every segment is done and the
job is not finished, so a finalize step lost in a crash is triggered again by a retried segment.
``finish_job`` moves a job to a terminal state only once and, in the same transaction, writes the job's
webhook event to the outbox: a job produces exactly one completion webhook.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError, JobAlreadyFinished, JobNotFound, JobSegmentNotFound
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobSegment, JobStatus, SegmentStatus
from voice_store.webhooks import enqueue_webhook_event, get_webhook_endpoint


class SegmentStartOutcome(enum.Enum):
    RUN = "run"  # synthesize it now
    ALREADY_DONE = "already_done"  # a redelivered task: nothing to do
    JOB_FINISHED = "job_finished"  # canceled or failed meanwhile: nothing to do
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # the segment and its job are now failed


@dataclass(frozen=True, slots=True)
class SegmentStart:
    outcome: SegmentStartOutcome
    segment: JobSegment

    @property
    def should_run(self) -> bool:
        return self.outcome is SegmentStartOutcome.RUN


def start_segment(
    *, session: Session, job_id: str, position: int, max_attempts: int, now: datetime | None = None
) -> SegmentStart:
    """Count an attempt and mark the segment running, unless it is done, its job finished, or it is spent."""
    if max_attempts < 1:
        raise InvalidInputError(f"max_attempts must be at least 1, got {max_attempts}")
    now = now or utcnow()
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if segment.status is SegmentStatus.DONE:
        return SegmentStart(SegmentStartOutcome.ALREADY_DONE, segment)
    if job.status.is_terminal:
        return SegmentStart(SegmentStartOutcome.JOB_FINISHED, segment)
    if segment.attempts >= max_attempts:
        _fail_job_for_segment(session, job, segment, now)
        return SegmentStart(SegmentStartOutcome.ATTEMPTS_EXHAUSTED, segment)
    segment.attempts += 1
    segment.status = SegmentStatus.RUNNING
    segment.started_at = now
    if job.status is JobStatus.QUEUED:
        job.status = JobStatus.RUNNING
        job.started_at = now
    session.flush()
    return SegmentStart(SegmentStartOutcome.RUN, segment)


def complete_segment(
    *,
    session: Session,
    job_id: str,
    position: int,
    audio_blob_key: str,
    audio_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Record a segment's audio (once); True when every segment is done and the job awaits its finalize."""
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if job.status.is_terminal:
        return False
    if segment.status is not SegmentStatus.DONE:
        segment.status = SegmentStatus.DONE
        segment.audio_blob_key = audio_blob_key
        segment.audio_seconds = audio_seconds
        segment.error = None
        segment.finished_at = now or utcnow()
        job.segments_done += 1
        job.audio_seconds += audio_seconds
        session.flush()
    return job.segments_done == job.segments_total


def fail_segment(
    *,
    session: Session,
    job_id: str,
    position: int,
    error: str,
    max_attempts: int,
    now: datetime | None = None,
) -> Job:
    """Record a failed attempt: the segment is retryable until ``max_attempts``, then the job fails."""
    now = now or utcnow()
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if segment.status is SegmentStatus.DONE or job.status.is_terminal:
        return job
    segment.error = error
    if segment.attempts >= max_attempts:
        _fail_job_for_segment(session, job, segment, now)
    else:
        segment.status = SegmentStatus.PENDING
    session.flush()
    return job


def finish_job(
    *,
    session: Session,
    job_id: str,
    status: JobStatus,
    outputs: list[dict[str, Any]] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Move the job to a terminal ``status`` and write its webhook event; False if it already had ended."""
    if not status.is_terminal:
        raise InvalidInputError(f"finish_job needs a terminal status, not {status.value!r}")
    job = lock_job(session, job_id)
    if job.status.is_terminal:
        return False
    _finish(
        session, job, status, now or utcnow(), outputs=outputs, error_code=error_code, message=error_message
    )
    return True


def cancel_job(
    *, session: Session, job_id: str, api_key_id: str | None = None, now: datetime | None = None
) -> Job:
    """Cancel a queued or running job (canceling twice is fine); ``JobAlreadyFinished`` once it has ended."""
    job = lock_job(session, job_id, api_key_id=api_key_id)
    if job.status is JobStatus.CANCELED:
        return job
    if job.status.is_terminal:
        raise JobAlreadyFinished(job_id, job.status.value)
    _finish(session, job, JobStatus.CANCELED, now or utcnow())
    return job


def job_event_payload(job: Job, event_type: str, now: datetime) -> dict[str, Any]:
    """The Standard Webhooks body of a job event: ``{"type", "timestamp", "data": {...}}``."""
    error = {"code": job.error_code, "message": job.error_message} if job.error_code else None
    return {
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "id": job.id,
            "object": "job",
            "status": job.status.value,
            "segments_done": job.segments_done,
            "segments_total": job.segments_total,
            "audio_seconds": job.audio_seconds,
            "outputs": job.outputs,
            "error": error,
            "metadata": job.request.get("metadata"),
        },
    }


def lock_job(session: Session, job_id: str, *, api_key_id: str | None = None) -> Job:
    """The job, row-locked and fresh from the database; with ``api_key_id``, only if it is that key's."""
    statement = (
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    )
    job = session.scalars(statement).one_or_none()
    if job is None or (api_key_id is not None and job.api_key_id != api_key_id):
        raise JobNotFound(job_id)
    return job


def _segment(session: Session, job_id: str, position: int) -> JobSegment:
    statement = (
        select(JobSegment)
        .where(JobSegment.job_id == job_id, JobSegment.position == position)
        .execution_options(populate_existing=True)
    )
    segment = session.scalars(statement).one_or_none()
    if segment is None:
        raise JobSegmentNotFound(job_id, position)
    return segment


def _fail_job_for_segment(session: Session, job: Job, segment: JobSegment, now: datetime) -> None:
    segment.status = SegmentStatus.FAILED
    segment.finished_at = now
    message = f"segment {segment.position} failed after {segment.attempts} attempts"
    if segment.error:
        message += f": {segment.error}"
    _finish(session, job, JobStatus.FAILED, now, error_code="segment_failed", message=message)


def _finish(
    session: Session,
    job: Job,
    status: JobStatus,
    now: datetime,
    *,
    outputs: list[dict[str, Any]] | None = None,
    error_code: str | None = None,
    message: str | None = None,
) -> None:
    job.status = status
    job.finished_at = now
    job.outputs = outputs
    job.error_code = error_code
    job.error_message = message
    session.flush()
    if job.webhook_endpoint_id is not None:
        endpoint = get_webhook_endpoint(session=session, endpoint_id=job.webhook_endpoint_id)
        if endpoint.is_enabled:
            event_type = f"job.{status.value}"
            enqueue_webhook_event(
                session=session,
                endpoint_id=endpoint.id,
                event_type=event_type,
                payload=job_event_payload(job, event_type, now),
                dedupe_key=f"{job.id}:completion",
                job_id=job.id,
                now=now,
            )
