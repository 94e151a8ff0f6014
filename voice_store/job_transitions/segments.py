"""Segment transitions: claim (counts an attempt, takes a lease and a fencing token), renew (the holder
extends its lease while it runs), complete (once, by the current claim only), fail (retry until out of
attempts).

A claim is taken in the same transaction that marks the segment running. The lease is short and its holder
renews it while it works (``renew_claim``), so a lease that expired means the holder stopped renewing (its
process died, its host was lost or cut off). While the lease is live another delivery of the same segment (a
duplicate message, a redelivery after a worker loss) neither runs nor counts an attempt (``CLAIMED``); the
janitor releases expired leases (``job_transitions.claims``). Results written with a token that is no longer
the segment's (a superseded claim that finished late: its holder may well be alive) are discarded.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
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
    CLAIMED = "claimed"  # another live claim runs it: nothing to do, no attempt used


@dataclass(frozen=True, slots=True)
class SegmentStart:
    outcome: SegmentStartOutcome
    segment: JobSegment
    token: int = 0  # the fencing token of this claim (with ``RUN``): pass it to complete/fail

    @property
    def should_run(self) -> bool:
        return self.outcome is SegmentStartOutcome.RUN


def start_segment(
    *,
    session: Session,
    job_id: str,
    position: int,
    max_attempts: int,
    owner: str = "",
    lease_s: float | None = None,
    owner_lost: Callable[[str], bool] | None = None,
    now: datetime | None = None,
) -> SegmentStart:
    """Claim the segment: count an attempt, mark it running and hand out a new fencing token, unless it is
    done, its job finished, it is spent, or another claim's lease is still live. ``lease_s=None`` (one
    process runs everything, the embedded mode) takes no lease: a later start always claims. ``owner_lost``
    says whether a live claim's owner is known to be gone (its process died on this host: a redelivery after
    a worker child was killed takes over at once instead of waiting for the lease)."""
    if max_attempts < 1:
        raise InvalidInputError(f"max_attempts must be at least 1, got {max_attempts}")
    now = now or utcnow()
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if segment.status is SegmentStatus.DONE:
        return SegmentStart(SegmentStartOutcome.ALREADY_DONE, segment)
    if job.status.is_terminal:
        return SegmentStart(SegmentStartOutcome.JOB_FINISHED, segment)
    if _lease_is_live(segment, now) and not (owner_lost and owner_lost(segment.claim_owner or "")):
        return SegmentStart(SegmentStartOutcome.CLAIMED, segment)
    if segment.attempts >= max_attempts:
        _fail_job_for_segment(session, job, segment, now)
        return SegmentStart(SegmentStartOutcome.ATTEMPTS_EXHAUSTED, segment)
    segment.attempts += 1
    segment.status = SegmentStatus.RUNNING
    segment.started_at = now
    segment.claim_token += 1
    segment.claim_owner = owner or None
    segment.lease_expires_at = None if lease_s is None else now + timedelta(seconds=lease_s)
    if job.status is JobStatus.QUEUED:
        job.status = JobStatus.RUNNING
        job.started_at = now
    session.flush()
    return SegmentStart(SegmentStartOutcome.RUN, segment, segment.claim_token)


def renew_claim(
    *, session: Session, job_id: str, position: int, token: int, lease_s: float, now: datetime | None = None
) -> bool:
    """Extend the lease of claim ``token`` to ``lease_s`` from now; False when the claim is no longer the
    running one (superseded by a newer token, released by the janitor, or the segment ended): its holder
    stops renewing. A conditional update: it never takes the job lock, and never revives another claim."""
    expires = (now or utcnow()) + timedelta(seconds=lease_s)
    result = session.execute(
        update(JobSegment)
        .where(
            JobSegment.job_id == job_id,
            JobSegment.position == position,
            JobSegment.status == SegmentStatus.RUNNING,
            JobSegment.claim_token == token,
        )
        .values(lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _lease_is_live(segment: JobSegment, now: datetime) -> bool:
    return (
        segment.status is SegmentStatus.RUNNING
        and segment.lease_expires_at is not None
        and segment.lease_expires_at > now
    )


def _superseded(segment: JobSegment, token: int | None) -> bool:
    """A result from a claim that is no longer the segment's (``None``: an unfenced caller)."""
    return token is not None and segment.claim_token != token


def complete_segment(
    *,
    session: Session,
    job_id: str,
    position: int,
    audio_blob_key: str,
    audio_seconds: float,
    token: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Record a segment's audio (once, and only from its current claim's ``token``); True when every segment
    is done and the job awaits its finalize. A superseded claim's result is discarded (False)."""
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if job.status.is_terminal or _superseded(segment, token):
        return False
    if segment.status is not SegmentStatus.DONE:
        segment.status = SegmentStatus.DONE
        segment.audio_blob_key = audio_blob_key
        segment.audio_seconds = audio_seconds
        segment.error = None
        segment.finished_at = now or utcnow()
        segment.lease_expires_at = None
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
    token: int | None = None,
    now: datetime | None = None,
) -> Job:
    """Record a failed attempt: the segment is retryable until ``max_attempts``, then the job fails. A
    superseded claim's failure changes nothing."""
    now = now or utcnow()
    job = lock_job(session, job_id)
    segment = _segment(session, job_id, position)
    if segment.status is SegmentStatus.DONE or job.status.is_terminal or _superseded(segment, token):
        return job
    segment.error = error
    segment.lease_expires_at = None
    segment.enqueued_at = now  # its retry message goes out now
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
