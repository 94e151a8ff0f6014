"""Segment transitions: start (counts an attempt), complete (once), fail (retry until out of attempts)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError, JobSegmentNotFound
from voice_store.job_events import record_progress
from voice_store.job_transitions.finish import end_job, lock_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobErrorStep, JobSegment, JobStatus, SegmentStatus


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
        record_progress(session=session, job=job)
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
    end_job(
        session,
        job,
        JobStatus.FAILED,
        now,
        error_code="segment_failed",
        message=message,
        step=JobErrorStep.SEGMENT,
    )
