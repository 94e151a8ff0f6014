"""The distributed job janitor: stranded running segments and finalizes are enqueued again (bounded by their
attempt counters); due webhooks get relayed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.job_transitions import complete_segment, fail_segment, start_finalize, start_segment
from voice_store.jobs import SegmentSpec, create_job, get_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import JobStatus
from voice_store.webhooks import create_webhook_endpoint, enqueue_webhook_event
from workers.jobs.failures import FinalizeOutcome, FinalizeRetry, FinalizeRunner
from workers.jobs.finalize import Finalizer, StitchPolicy
from workers.jobs.janitor import JobJanitor


class RecordingCeleryQueue:
    def __init__(self) -> None:
        self.segments: list[tuple[str, str, int]] = []
        self.finalizes: list[tuple[str, str]] = []
        self.deliveries = 0

    def segment(self, job_id: str, *, model: str, position: int, countdown: float | None = None) -> None:
        self.segments.append((job_id, model, position))

    def finalize(self, job_id: str, *, model: str, countdown: float | None = None) -> None:
        self.finalizes.append((job_id, model))

    def deliver_webhooks(self) -> None:
        self.deliveries += 1


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = sqlite_url(tmp_path / "janitor.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    yield create_session_factory(engine)
    engine.dispose()


def test_only_segments_running_longer_than_a_task_can_live_are_enqueued_again(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_scope(sessions, write=True) as session:
        job, _ = create_job(
            session=session,
            request={"synthesis": {"model": "m"}},
            segments=[SegmentSpec("a"), SegmentSpec("b"), SegmentSpec("c")],
        )
        start_segment(
            session=session, job_id=job.id, position=0, max_attempts=3, now=now - timedelta(minutes=20)
        )
        start_segment(
            session=session, job_id=job.id, position=1, max_attempts=3, now=now - timedelta(seconds=5)
        )
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=timedelta(minutes=15), interval_s=60)  # type: ignore[arg-type]
    assert janitor.sweep(now) == 1
    assert queue.segments == [(job.id, "m", 0)] and queue.deliveries == 0


def test_due_webhook_events_trigger_a_relay_task(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions, write=True) as session:
        endpoint, _ = create_webhook_endpoint(session=session, url="https://example.com/hook")
        enqueue_webhook_event(
            session=session, endpoint_id=endpoint.id, event_type="job.failed", payload={}, dedupe_key="x"
        )
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=timedelta(minutes=15), interval_s=60)  # type: ignore[arg-type]
    janitor.sweep(utcnow() - timedelta(minutes=1))  # not due yet
    assert queue.deliveries == 0
    janitor.sweep()
    assert (queue.segments, queue.deliveries) == ([], 1)


def _all_done_job(session: Session, segments: int = 2) -> str:
    job, _ = create_job(
        session=session,
        request={"synthesis": {"model": "m"}},
        segments=[SegmentSpec(f"s{n}") for n in range(segments)],
    )
    for position in range(segments):
        start_segment(session=session, job_id=job.id, position=position, max_attempts=3)
        complete_segment(
            session=session, job_id=job.id, position=position, audio_blob_key="k", audio_seconds=1
        )
    return job.id


def test_idle_running_jobs_get_their_finalize_or_their_pending_segments_again_bounded(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_scope(sessions, write=True) as session:
        never_finalized = _all_done_job(session)  # the finalize message was lost
        stuck = _all_done_job(session)  # its finalize's worker was killed
        start_finalize(session=session, job_id=stuck, max_attempts=2)
        lost_retry, _ = create_job(  # segment 1 failed once; the message of its retry was never sent
            session=session,
            request={"synthesis": {"model": "m"}},
            segments=[SegmentSpec("a"), SegmentSpec("b")],
        )
        start_segment(session=session, job_id=lost_retry.id, position=0, max_attempts=3)
        complete_segment(
            session=session, job_id=lost_retry.id, position=0, audio_blob_key="k", audio_seconds=1
        )
        start_segment(session=session, job_id=lost_retry.id, position=1, max_attempts=3)
        fail_segment(session=session, job_id=lost_retry.id, position=1, error="OOM", max_attempts=3)
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=timedelta(minutes=15), interval_s=60)  # type: ignore[arg-type]
    assert janitor.sweep(now + timedelta(minutes=1)) == 0  # a finalize or a retry may still be on its way
    assert janitor.sweep(now + timedelta(minutes=20)) == 3
    assert queue.finalizes == sorted([(never_finalized, "m"), (stuck, "m")])
    assert queue.segments == [(lost_retry.id, "m", 1)]
    assert janitor.sweep(now + timedelta(minutes=21)) == 0  # sent once per stale window, not once per sweep

    # each re-run counts an attempt: a finalize that keeps losing its worker fails the job, never loops
    never_called = Finalizer(sessions=sessions, blobs=None, policy=StitchPolicy())  # type: ignore[arg-type]
    runner = FinalizeRunner(sessions=sessions, finalizer=never_called, retry=FinalizeRetry(max_attempts=2))
    with session_scope(sessions, write=True) as session:
        start_finalize(session=session, job_id=stuck, max_attempts=2)  # the second worker died too
    assert runner.run(stuck).outcome is FinalizeOutcome.FAILED
    with session_scope(sessions) as session:
        job = get_job(session=session, job_id=stuck)
        assert (job.status, job.error_code, job.error_step) == (
            JobStatus.FAILED,
            "finalize_failed",
            "finalize",
        )
    assert janitor.sweep(now + timedelta(minutes=40)) == 2  # the failed one is not sent again
