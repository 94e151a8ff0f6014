"""The job view's extras (chapter progress, webhook delivery) for a page of jobs, on SQLite and Postgres."""

from __future__ import annotations

from sqlalchemy.orm import Session

from voice_store.job_details import ChapterProgress, read_job_details
from voice_store.jobs import SegmentSpec, create_job
from voice_store.models import SegmentStatus
from voice_store.webhooks import create_webhook_endpoint, enqueue_webhook_event, record_webhook_attempt

REQUEST = {"input": "x", "voice": "alloy", "response_format": "mp3"}


def test_chapters_are_counted_per_job_and_the_latest_webhook_event_is_shown(session: Session) -> None:
    specs = [SegmentSpec("a.", 0), SegmentSpec("b.", 0), SegmentSpec("c.", 1)]
    book, _ = create_job(session=session, request=REQUEST, segments=specs)
    other, _ = create_job(session=session, request=REQUEST, segments=[SegmentSpec("d.")])
    book.segments[0].status = SegmentStatus.DONE
    book.segments[2].status = SegmentStatus.DONE
    endpoint, _ = create_webhook_endpoint(session=session, url="https://hooks.example.com/tts")
    event = enqueue_webhook_event(
        session=session,
        endpoint_id=endpoint.id,
        event_type="job.succeeded",
        payload={},
        dedupe_key=f"{book.id}:end",
        job_id=book.id,
    )
    record_webhook_attempt(session=session, event_id=event.id, status_code=200)
    session.flush()

    details = read_job_details(session=session, job_ids=[book.id, other.id])
    assert details[book.id].chapters == [ChapterProgress(0, 1, 2), ChapterProgress(1, 1, 1)]
    hook = details[book.id].webhook
    assert hook is not None and (hook.status, hook.attempts, hook.last_status_code) == ("delivered", 1, 200)
    assert details[other.id].chapters == [ChapterProgress(0, 0, 1)] and details[other.id].webhook is None
    assert read_job_details(session=session, job_ids=[]) == {}
