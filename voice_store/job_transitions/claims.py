"""Reconciling segment claims from the database (the janitor's side of ``segments``).

The database, not the broker, says what is left to do: a running segment whose lease expired lost its worker
(``release_expired`` makes it pending again, so it is sent once, not on every sweep); a pending segment whose
message went out longer ago than a bound may have lost it (a broker restarted without persistence):
``note_enqueued`` stamps it before it is sent again. Both are conditional updates, so several janitors
sweeping at once send a segment once per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from voice_store.models.jobs import Job, JobSegment, JobStatus, SegmentStatus

_OPEN_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class SegmentRef:
    job_id: str
    model: str
    position: int
    token: int = 0


def expired_claims(session: Session, *, now: datetime, unleased_before: datetime) -> list[SegmentRef]:
    """Running segments of open jobs whose lease expired (or, unleased, that started before the bound)."""
    statement = (
        select(Job.id, Job.request, JobSegment.position, JobSegment.claim_token)
        .join(JobSegment, JobSegment.job_id == Job.id)
        .where(
            Job.status.in_(_OPEN_JOB),
            JobSegment.status == SegmentStatus.RUNNING,
            _expired(now, unleased_before),
        )
        .order_by(Job.id, JobSegment.position)
    )
    return [
        SegmentRef(job_id, request["synthesis"]["model"], position, token)
        for job_id, request, position, token in session.execute(statement)
    ]


def release_expired(session: Session, ref: SegmentRef, *, now: datetime, unleased_before: datetime) -> bool:
    """Make an expired claim's segment pending again (its attempt stays counted); False when it changed
    meanwhile (completed, failed, claimed again or released by another janitor)."""
    result = session.execute(
        update(JobSegment)
        .where(
            JobSegment.job_id == ref.job_id,
            JobSegment.position == ref.position,
            JobSegment.status == SegmentStatus.RUNNING,
            JobSegment.claim_token == ref.token,
            _expired(now, unleased_before),
        )
        .values(
            status=SegmentStatus.PENDING,
            claim_owner=None,
            lease_expires_at=None,
            enqueued_at=now,
            error="its worker was lost (lease expired)",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def stranded_pending(session: Session, *, enqueued_before: datetime) -> list[SegmentRef]:
    """Pending segments of open jobs whose message went out before ``enqueued_before`` (it may be lost)."""
    statement = (
        select(Job.id, Job.request, JobSegment.position)
        .join(JobSegment, JobSegment.job_id == Job.id)
        .where(
            Job.status.in_(_OPEN_JOB),
            JobSegment.status == SegmentStatus.PENDING,
            _enqueued_before(enqueued_before),
        )
        .order_by(Job.id, JobSegment.position)
    )
    return [
        SegmentRef(job_id, request["synthesis"]["model"], position)
        for job_id, request, position in session.execute(statement)
    ]


def note_enqueued(session: Session, ref: SegmentRef, *, now: datetime, enqueued_before: datetime) -> bool:
    """Stamp a stranded pending segment as sent now; False when another janitor did, or it moved on."""
    result = session.execute(
        update(JobSegment)
        .where(
            JobSegment.job_id == ref.job_id,
            JobSegment.position == ref.position,
            JobSegment.status == SegmentStatus.PENDING,
            _enqueued_before(enqueued_before),
        )
        .values(enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _expired(now: datetime, unleased_before: datetime) -> ColumnElement[bool]:
    return or_(
        JobSegment.lease_expires_at < now,
        and_(JobSegment.lease_expires_at.is_(None), JobSegment.started_at < unleased_before),
    )


def _enqueued_before(bound: datetime) -> ColumnElement[bool]:
    return or_(JobSegment.enqueued_at < bound, JobSegment.enqueued_at.is_(None))
