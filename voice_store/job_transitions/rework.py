"""Rework of an ended job: retry only what failed, or regenerate one chapter (new text and/or voice).

Why here: both reopen a terminal job, which only these transitions may do, under the job row lock like every
other transition. What is already made is kept: done segments keep their audio and are never claimed again
(``start_segment`` answers ``ALREADY_DONE``), so only the reopened segments reach the engine. Each reopening
bumps ``request["rework"]``: the job's next completion webhook is a new event (its dedupe key carries the
round), not a duplicate of the first one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from voice_store.errors import ConflictError, InvalidInputError
from voice_store.job_events import record_progress
from voice_store.job_transitions.finish import lock_job
from voice_store.jobs import SegmentSpec
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobSegment, JobStatus, SegmentStatus


class JobNotReworkable(ConflictError):
    def __init__(self, job_id: str, status: str, what: str) -> None:
        super().__init__(f"job {job_id!r} is {status}: {what}")
        self.job_id = job_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Reopened:
    job: Job
    positions: list[int]  # the segments to run (empty: every segment is done, only the finalize runs)
    dropped_blob_keys: list[str]  # audio no longer used (a regenerated chapter's old segments)


def retry_job(
    *, session: Session, job_id: str, api_key_id: str | None = None, now: datetime | None = None
) -> Reopened:
    """Reopen a failed job: its failed and unfinished segments get fresh attempts; done ones stay done."""
    job = lock_job(session, job_id, api_key_id=api_key_id)
    if job.status is not JobStatus.FAILED:
        raise JobNotReworkable(job_id, job.status.value, "only a failed job can be retried")
    positions = [s.position for s in job.segments if s.status is not SegmentStatus.DONE]
    for segment in job.segments:
        if segment.status is not SegmentStatus.DONE:
            _reset(segment, now or utcnow())
    _reopen(session, job)
    return Reopened(job=job, positions=positions, dropped_blob_keys=[])


def regenerate_chapter(
    *,
    session: Session,
    job_id: str,
    chapter: int,
    segments: Sequence[SegmentSpec] | None,
    synthesis: dict[str, Any] | None,
    api_key_id: str | None = None,
    now: datetime | None = None,
) -> Reopened:
    """Re-synthesize ``chapter`` of an ended (succeeded or failed) job: with new ``segments`` (its new text)
    or its old text, and ``synthesis`` (a new voice/model/sampling for this chapter) or the job's."""
    job = lock_job(session, job_id, api_key_id=api_key_id)
    if job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise JobNotReworkable(
            job_id, job.status.value, "a chapter can be regenerated once the job has ended"
        )
    titles = job.request.get("chapter_titles") or [None]
    if not 0 <= chapter < len(titles):
        raise InvalidInputError(f"job {job_id!r} has chapters 0..{len(titles) - 1}, not {chapter}")
    now = now or utcnow()
    old = [s for s in job.segments if s.chapter == chapter]
    dropped = [s.audio_blob_key for s in old if s.audio_blob_key]
    if segments is None:
        segments = [SegmentSpec(text=s.text, chapter=chapter) for s in old]
    for segment in old:
        if segment.is_done:
            job.segments_done -= 1
            job.audio_seconds -= segment.audio_seconds or 0.0
        session.delete(segment)
    session.flush()
    # new positions after every existing one: the chapter's segments stay in order, other chapters untouched
    first = max((s.position for s in job.segments if s.chapter != chapter), default=-1) + 1
    first = max(first, max((s.position for s in old), default=-1) + 1)
    added = [
        JobSegment(
            job_id=job.id, position=first + n, chapter=chapter, text=spec.text, attempts=0, enqueued_at=now
        )
        for n, spec in enumerate(segments)
    ]
    session.add_all(added)
    job.segments_total = job.segments_total - len(old) + len(added)
    if synthesis is not None:
        overrides = dict(job.request.get("chapter_synthesis") or {})
        overrides[str(chapter)] = synthesis
        job.request = job.request | {"chapter_synthesis": overrides}
    _reopen(session, job)
    return Reopened(job=job, positions=[s.position for s in added], dropped_blob_keys=dropped)


def _reset(segment: JobSegment, now: datetime) -> None:
    segment.status = SegmentStatus.PENDING
    segment.attempts = 0
    segment.error = None
    segment.finished_at = None
    segment.lease_expires_at = None
    segment.claim_owner = None
    segment.enqueued_at = now


def _reopen(session: Session, job: Job) -> None:
    """Back to running, the error and outputs cleared (the finalize writes them anew), a new rework round."""
    job.status = JobStatus.RUNNING
    job.error_code = job.error_message = job.error_step = None
    job.finished_at = None
    job.outputs = None
    job.finalize_attempts = 0
    job.request = job.request | {"rework": int(job.request.get("rework", 0)) + 1}
    session.flush()
    record_progress(session=session, job=job)
