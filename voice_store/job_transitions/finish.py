"""The shape every job transition shares: lock the job row; finish a job once, with its webhook event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError, JobAlreadyFinished, JobNotFound
from voice_store.job_events import record_end
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobErrorStep, JobStatus
from voice_store.webhooks import enqueue_webhook_event, get_webhook_endpoint


def finish_job(
    *,
    session: Session,
    job_id: str,
    status: JobStatus,
    outputs: list[dict[str, Any]] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    error_step: JobErrorStep | None = None,
    now: datetime | None = None,
) -> bool:
    """Move the job to a terminal ``status`` and write its webhook event; False if it already had ended."""
    if not status.is_terminal:
        raise InvalidInputError(f"finish_job needs a terminal status, not {status.value!r}")
    job = lock_job(session, job_id)
    if job.status.is_terminal:
        return False
    end_job(
        session,
        job,
        status,
        now or utcnow(),
        outputs=outputs,
        error_code=error_code,
        message=error_message,
        step=error_step,
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
    end_job(session, job, JobStatus.CANCELED, now or utcnow())
    return job


def job_event_payload(job: Job, event_type: str, now: datetime) -> dict[str, Any]:
    """The Standard Webhooks body of a job event: ``{"type", "timestamp", "data": {...}}``."""
    error = None
    if job.error_code:
        error = {"code": job.error_code, "message": job.error_message, "step": job.error_step}
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
            "outputs": public_outputs(job.outputs),
            "error": error,
            "metadata": job.request.get("metadata"),
        },
    }


INTERNAL_OUTPUT_FIELDS = frozenset({"blob_key"})


def public_outputs(outputs: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A job's outputs as its webhook shows them: their URLs (API paths), never the blob store's keys."""
    if outputs is None:
        return None
    return [{k: v for k, v in output.items() if k not in INTERNAL_OUTPUT_FIELDS} for output in outputs]


def completion_dedupe_key(job: Job) -> str:
    """One completion event per job, and one more per rework round (a retry or a regenerated chapter)."""
    rework = int((job.request or {}).get("rework", 0))
    return f"{job.id}:completion" + (f":{rework}" if rework else "")


def lock_job(session: Session, job_id: str, *, api_key_id: str | None = None) -> Job:
    """The job, row-locked and fresh from the database; with ``api_key_id``, only if that key may see it
    (``Job.is_visible_to``: its own, or one created before keys existed)."""
    statement = (
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    )
    job = session.scalars(statement).one_or_none()
    if job is None or not job.is_visible_to(api_key_id):
        raise JobNotFound(job_id)
    return job


def end_job(
    session: Session,
    job: Job,
    status: JobStatus,
    now: datetime,
    *,
    outputs: list[dict[str, Any]] | None = None,
    error_code: str | None = None,
    message: str | None = None,
    step: JobErrorStep | None = None,
) -> None:
    """Finish a locked, unfinished ``job`` and put its one completion event in the outbox."""
    job.status = status
    job.finished_at = now
    job.outputs = outputs
    job.error_code = error_code
    job.error_message = message
    job.error_step = step.value if step is not None else None
    session.flush()
    record_end(session=session, job=job)  # the live event stream's last events
    if job.webhook_endpoint_id is not None:
        endpoint = get_webhook_endpoint(session=session, endpoint_id=job.webhook_endpoint_id)
        if endpoint.is_enabled:
            event_type = f"job.{status.value}"
            enqueue_webhook_event(
                session=session,
                endpoint_id=endpoint.id,
                event_type=event_type,
                payload=job_event_payload(job, event_type, now),
                dedupe_key=completion_dedupe_key(job),
                job_id=job.id,
                now=now,
            )
