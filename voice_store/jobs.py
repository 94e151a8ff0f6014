"""Async-job repository (issue 7): creating, reading, listing and deleting jobs.

API (keyword-only; functions flush but never commit)::

    job, created = create_job(session=s, request={...}, segments=[SegmentSpec(text="...", chapter=0), ...],
                              api_key_id=None, idempotency_key="client-key", webhook_endpoint_id=None)
    job = get_job(session=s, job_id=..., api_key_id=None)      # with a key id: only that key's jobs
    page = list_jobs(session=s, limit=20, cursor=None, status=JobStatus.RUNNING)   # newest first
    segments = list_segments(session=s, job_id=...)
    ids = list_unfinished_job_ids(session=s)          # what to resume after a restart
    job = delete_job(session=s, job_id=...)          # then blobs.delete_prefix(job_blob_prefix(job.id))

Progress and state changes (segments started/completed/failed, finish, cancel) are in ``job_transitions``.
The job row and all its segments are written in one transaction: commit it before enqueuing any task. An
``Idempotency-Key`` replayed with the same request returns the same job (``created`` False); with a different
request it is ``IdempotencyKeyReused`` (409). Keys are scoped per API key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice_store.errors import IdempotencyKeyReused, InvalidInputError, JobNotFinished, JobNotFound
from voice_store.job_transitions import lock_job
from voice_store.models.base import new_id, utcnow
from voice_store.models.jobs import Job, JobSegment, JobStatus
from voice_store.pagination import Page, check_limit, decode_cursor, encode_cursor

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    text: str
    chapter: int = 0


def job_blob_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def request_hash(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_job(
    *,
    session: Session,
    request: Mapping[str, Any],
    segments: Sequence[SegmentSpec],
    api_key_id: str | None = None,
    idempotency_key: str | None = None,
    webhook_endpoint_id: str | None = None,
) -> tuple[Job, bool]:
    """A queued job with its segments, or the job an earlier request with this idempotency key created."""
    if not segments:
        raise InvalidInputError("a job needs at least one segment")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInputError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    digest = request_hash(request)
    scope = api_key_id or ""
    if idempotency_key is not None and (replayed := _replayed(session, scope, idempotency_key, digest)):
        return replayed, False
    now = utcnow()
    job = Job(
        id=new_id("job"),
        status=JobStatus.QUEUED,
        api_key_id=api_key_id,
        idempotency_scope=scope,
        idempotency_key=idempotency_key,
        request_hash=digest,
        request=dict(request),
        webhook_endpoint_id=webhook_endpoint_id,
        segments_total=len(segments),
        segments_done=0,
        audio_seconds=0.0,
        created_at=now,
        updated_at=now,
    )
    job.segments = [
        JobSegment(position=position, chapter=spec.chapter, text=spec.text, attempts=0)
        for position, spec in enumerate(segments)
    ]
    session.flush()
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:  # a concurrent request with the same key committed first
        if idempotency_key is not None and (replayed := _replayed(session, scope, idempotency_key, digest)):
            return replayed, False
        raise
    return job, True


def get_job(*, session: Session, job_id: str, api_key_id: str | None = None) -> Job:
    job = session.get(Job, job_id)
    if job is None or not job.is_visible_to(api_key_id):
        raise JobNotFound(job_id)
    return job


def list_jobs(
    *,
    session: Session,
    limit: int = 20,
    cursor: str | None = None,
    status: JobStatus | None = None,
    api_key_id: str | None = None,
) -> Page[Job]:
    statement = select(Job).order_by(Job.id.desc()).limit(check_limit(limit) + 1)
    if status is not None:
        statement = statement.where(Job.status == status)
    if api_key_id is not None:
        statement = statement.where(or_(Job.api_key_id == api_key_id, Job.api_key_id.is_(None)))
    if cursor is not None:
        (before,) = decode_cursor(cursor, size=1)
        statement = statement.where(Job.id < before)
    jobs = list(session.scalars(statement))
    if len(jobs) <= limit:
        return Page(items=jobs, next_cursor=None)
    jobs = jobs[:limit]
    return Page(items=jobs, next_cursor=encode_cursor([jobs[-1].id]))


def list_unfinished_job_ids(*, session: Session) -> list[str]:
    """Queued and running jobs, oldest first (what an embedded server resumes after a restart)."""
    statement = select(Job.id).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])).order_by(Job.id)
    return list(session.scalars(statement))


def list_segments(*, session: Session, job_id: str) -> list[JobSegment]:
    statement = select(JobSegment).where(JobSegment.job_id == job_id).order_by(JobSegment.position)
    return list(session.scalars(statement))


def delete_job(*, session: Session, job_id: str, api_key_id: str | None = None) -> Job:
    """Delete a finished job and its segments; ``JobNotFinished`` while it runs (cancel it first)."""
    job = lock_job(session, job_id, api_key_id=api_key_id)
    if not job.status.is_terminal:
        raise JobNotFinished(job_id, job.status.value)
    session.delete(job)
    session.flush()
    return job


def _replayed(session: Session, scope: str, key: str, digest: str) -> Job | None:
    statement = select(Job).where(Job.idempotency_scope == scope, Job.idempotency_key == key)
    job = session.scalars(statement).one_or_none()
    if job is not None and job.request_hash != digest:
        raise IdempotencyKeyReused(key)
    return job
