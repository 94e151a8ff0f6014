"""Finalize transitions: each start counts an attempt; a failure retries (transient) or fails the job.

A finalize is attempted at most ``max_attempts`` times. ``start_finalize`` counts the attempt before any work,
so a finalize whose worker dies (a killed process, the hard time limit) uses one up, and the start after the
last one fails the job with ``finalize_failed`` at step ``finalize``. ``fail_finalize`` records a failed
attempt: a deterministic failure (``retryable=False``, e.g. the encoder raised) or the last attempt fails
the job with its step; a transient one (the blob store was unreachable) leaves the job running for a retry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError
from voice_store.job_transitions.finish import end_job, lock_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobErrorStep, JobStatus

FINALIZE_FAILED = "finalize_failed"


class FinalizeStartOutcome(enum.Enum):
    RUN = "run"  # stitch, encode and store the outputs now
    NOT_READY = "not_ready"  # some segment is not done yet
    JOB_FINISHED = "job_finished"  # already succeeded, failed or canceled: nothing to do
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # every attempt was lost: the job is now failed


@dataclass(frozen=True, slots=True)
class FinalizeStart:
    outcome: FinalizeStartOutcome
    job: Job

    @property
    def should_run(self) -> bool:
        return self.outcome is FinalizeStartOutcome.RUN

    @property
    def attempt(self) -> int:
        return self.job.finalize_attempts


def start_finalize(
    *, session: Session, job_id: str, max_attempts: int, now: datetime | None = None
) -> FinalizeStart:
    """Count a finalize attempt, unless the job is not ready, has ended, or has used every attempt."""
    if max_attempts < 1:
        raise InvalidInputError(f"max_attempts must be at least 1, got {max_attempts}")
    job = lock_job(session, job_id)
    if job.status.is_terminal:
        return FinalizeStart(FinalizeStartOutcome.JOB_FINISHED, job)
    if job.segments_done < job.segments_total:
        return FinalizeStart(FinalizeStartOutcome.NOT_READY, job)
    if job.finalize_attempts >= max_attempts:
        message = (
            f"finalize did not finish in {job.finalize_attempts} attempts: its worker was lost each time "
            "(killed, out of memory, or over the task time limit)"
        )
        _fail(session, job, JobErrorStep.FINALIZE, message, now or utcnow())
        return FinalizeStart(FinalizeStartOutcome.ATTEMPTS_EXHAUSTED, job)
    job.finalize_attempts += 1
    job.updated_at = now or utcnow()  # the janitor judges a stuck finalize by this
    session.flush()
    return FinalizeStart(FinalizeStartOutcome.RUN, job)


def fail_finalize(
    *,
    session: Session,
    job_id: str,
    step: JobErrorStep,
    error: str,
    retryable: bool,
    max_attempts: int,
    now: datetime | None = None,
) -> bool:
    """Record a failed finalize attempt; True when the job has now failed, False when it may run again."""
    now = now or utcnow()
    job = lock_job(session, job_id)
    if job.status.is_terminal:
        return job.status is JobStatus.FAILED
    if retryable and job.finalize_attempts < max_attempts:
        job.updated_at = now  # the retry is due soon: not stuck
        session.flush()
        return False
    attempts = f"attempt {job.finalize_attempts} of {max_attempts}" if retryable else "not retryable"
    _fail(session, job, step, f"finalize failed at {step.value} ({attempts}): {error}", now)
    return True


def _fail(session: Session, job: Job, step: JobErrorStep, message: str, now: datetime) -> None:
    end_job(session, job, JobStatus.FAILED, now, error_code=FINALIZE_FAILED, message=message, step=step)


def note_requeued(*, session: Session, job_id: str, now: datetime | None = None) -> bool:
    """The janitor sends this idle job's finalize (or pending segments) again: its stale window starts over,
    so work nobody runs yet is sent once per window, not once per sweep. False if the job has ended."""
    job = lock_job(session, job_id)
    if job.status.is_terminal:
        return False
    job.updated_at = now or utcnow()
    session.flush()
    return True
