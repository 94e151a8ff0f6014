"""Finalize transitions, on SQLite and on Postgres: every finalize ends the job, after bounded attempts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from voice_store.job_transitions import (
    FinalizeStartOutcome,
    complete_segment,
    fail_finalize,
    fail_segment,
    job_event_payload,
    start_finalize,
    start_segment,
)
from voice_store.jobs import SegmentSpec, create_job, get_job
from voice_store.models import Job, JobStatus
from voice_store.models.base import utcnow
from voice_store.models.jobs import JobErrorStep
from voice_store.webhooks import create_webhook_endpoint, list_webhook_events

REQUEST = {"input": "One. Two.", "voice": "alloy", "response_format": "mp3"}


def _ready_job(session: Session, *, segments: int = 2, webhook: bool = False) -> Job:
    endpoint_id = None
    if webhook:
        endpoint, _ = create_webhook_endpoint(session=session, url="https://example.com/hook")
        endpoint_id = endpoint.id
    specs = [SegmentSpec(text=f"sentence {n}.") for n in range(segments)]
    job, _ = create_job(session=session, request=REQUEST, segments=specs, webhook_endpoint_id=endpoint_id)
    for position in range(segments):
        start_segment(session=session, job_id=job.id, position=position, max_attempts=3)
        complete_segment(
            session=session,
            job_id=job.id,
            position=position,
            audio_blob_key=f"k{position}",
            audio_seconds=1.0,
        )
    return job


def test_a_finalize_runs_only_when_every_segment_is_done(session: Session) -> None:
    job, _ = create_job(session=session, request=REQUEST, segments=[SegmentSpec("a"), SegmentSpec("b")])
    start_segment(session=session, job_id=job.id, position=0, max_attempts=3)
    complete_segment(session=session, job_id=job.id, position=0, audio_blob_key="k", audio_seconds=1.0)
    start = start_finalize(session=session, job_id=job.id, max_attempts=3)
    assert start.outcome is FinalizeStartOutcome.NOT_READY and job.finalize_attempts == 0


def test_a_deterministic_failure_fails_the_job_at_once_with_its_step(session: Session) -> None:
    job = _ready_job(session, webhook=True)
    start = start_finalize(session=session, job_id=job.id, max_attempts=3)
    assert start.should_run and start.attempt == 1
    failed = fail_finalize(
        session=session,
        job_id=job.id,
        step=JobErrorStep.ENCODE,
        error="EncodingFailed: no encoder",
        retryable=False,
        max_attempts=3,
    )
    loaded = get_job(session=session, job_id=job.id)
    assert failed and loaded.status is JobStatus.FAILED
    assert (loaded.error_code, loaded.error_step) == ("finalize_failed", "encode")
    assert "no encoder" in (loaded.error_message or "")
    (event,) = list_webhook_events(session=session, endpoint_id=job.webhook_endpoint_id)
    assert event.event_type == "job.failed"
    assert event.payload["data"]["error"] == {
        "code": "finalize_failed",
        "message": loaded.error_message,
        "step": "encode",
    }
    assert start_finalize(session=session, job_id=job.id, max_attempts=3).outcome is (
        FinalizeStartOutcome.JOB_FINISHED
    )


def test_a_transient_failure_retries_until_the_attempts_are_spent(session: Session) -> None:
    job = _ready_job(session)
    for attempt in (1, 2):
        assert start_finalize(session=session, job_id=job.id, max_attempts=3).attempt == attempt
        assert not fail_finalize(
            session=session,
            job_id=job.id,
            step=JobErrorStep.UPLOAD,
            error="S3 down",
            retryable=True,
            max_attempts=3,
        )
        assert get_job(session=session, job_id=job.id).status is JobStatus.RUNNING
    assert start_finalize(session=session, job_id=job.id, max_attempts=3).attempt == 3
    assert fail_finalize(
        session=session,
        job_id=job.id,
        step=JobErrorStep.UPLOAD,
        error="S3 down",
        retryable=True,
        max_attempts=3,
    )
    loaded = get_job(session=session, job_id=job.id)
    assert (loaded.status, loaded.error_step) == (JobStatus.FAILED, "upload")
    assert "attempt 3 of 3" in (loaded.error_message or "")


def test_a_finalize_that_loses_its_worker_every_time_fails_the_job(session: Session) -> None:
    job = _ready_job(session)
    for _ in range(2):  # each worker dies before it can record anything
        assert start_finalize(session=session, job_id=job.id, max_attempts=2).should_run
    start = start_finalize(session=session, job_id=job.id, max_attempts=2)
    assert start.outcome is FinalizeStartOutcome.ATTEMPTS_EXHAUSTED
    loaded = get_job(session=session, job_id=job.id)
    assert (loaded.status, loaded.error_code, loaded.error_step) == (
        JobStatus.FAILED,
        "finalize_failed",
        "finalize",
    )
    assert job_event_payload(loaded, "job.failed", utcnow())["data"]["error"]["step"] == "finalize"


def test_the_webhook_payload_gives_output_urls_never_blob_keys(session: Session) -> None:
    """Issue 19: the stored outputs name their blobs; what leaves the server names the API's URLs."""
    job = _ready_job(session)
    job.outputs = [
        {"chapter": None, "format": "mp3", "blob_key": "jobs/x/audio.mp3", "url": f"/v1/jobs/{job.id}/audio"}
    ]
    (output,) = job_event_payload(job, "job.succeeded", utcnow())["data"]["outputs"]
    assert output == {"chapter": None, "format": "mp3", "url": f"/v1/jobs/{job.id}/audio"}


def test_a_failed_segment_names_its_step(session: Session) -> None:
    job, _ = create_job(session=session, request=REQUEST, segments=[SegmentSpec("a")])
    start_segment(session=session, job_id=job.id, position=0, max_attempts=1)
    fail_segment(session=session, job_id=job.id, position=0, error="boom", max_attempts=1)
    loaded = get_job(session=session, job_id=job.id)
    assert (loaded.status, loaded.error_code, loaded.error_step) == (
        JobStatus.FAILED,
        "segment_failed",
        "segment",
    )
