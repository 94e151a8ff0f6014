"""Async-job repository contract, on SQLite and on Postgres."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from voice_store.api_keys import create_api_key
from voice_store.db import create_session_factory, session_scope
from voice_store.errors import (
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidInputError,
    JobAlreadyFinished,
    JobNotFinished,
    JobNotFound,
    JobSegmentNotFound,
)
from voice_store.job_transitions import (
    SegmentStartOutcome,
    cancel_job,
    complete_segment,
    fail_segment,
    finish_job,
    start_segment,
)
from voice_store.jobs import (
    SegmentSpec,
    create_job,
    delete_job,
    get_job,
    job_blob_prefix,
    list_jobs,
    list_segments,
    list_unfinished_job_ids,
)
from voice_store.models import Job, JobSegment, JobStatus, SegmentStatus
from voice_store.models.base import new_id

REQUEST = {"input": "Hello. World.", "voice": "alloy", "response_format": "mp3", "metadata": {"book": 7}}


def _job(session: Session, segments: int = 3, **kwargs: object) -> Job:
    specs = [SegmentSpec(text=f"sentence {i}.", chapter=i // 2) for i in range(segments)]
    job, created = create_job(session=session, request=REQUEST, segments=specs, **kwargs)  # type: ignore[arg-type]
    assert created
    return job


def test_create_job_with_segments(session: Session) -> None:
    job = _job(session, segments=3)
    session.expire_all()
    loaded = get_job(session=session, job_id=job.id)
    assert loaded.status is JobStatus.QUEUED
    assert (loaded.segments_total, loaded.segments_done, loaded.audio_seconds) == (3, 0, 0.0)
    assert loaded.request == REQUEST
    segments = list_segments(session=session, job_id=job.id)
    assert [(s.position, s.chapter, s.text, s.status, s.attempts) for s in segments] == [
        (0, 0, "sentence 0.", SegmentStatus.PENDING, 0),
        (1, 0, "sentence 1.", SegmentStatus.PENDING, 0),
        (2, 1, "sentence 2.", SegmentStatus.PENDING, 0),
    ]
    assert job_blob_prefix(job.id) == f"jobs/{job.id}/"
    assert job.id in list_unfinished_job_ids(session=session)


def test_create_job_rejects_bad_input(session: Session) -> None:
    with pytest.raises(InvalidInputError):
        create_job(session=session, request=REQUEST, segments=[])
    with pytest.raises(InvalidInputError):
        create_job(session=session, request=REQUEST, segments=[SegmentSpec("x")], idempotency_key="k" * 256)


def test_idempotent_replay_returns_the_same_job(session: Session) -> None:
    key, _ = create_api_key(session=session, name="owner")
    first = _job(session, idempotency_key="idem-1", api_key_id=key.id)
    replay, created = create_job(
        session=session,
        request=dict(reversed(list(REQUEST.items()))),  # same request, other key order
        segments=[SegmentSpec("ignored on replay")],
        idempotency_key="idem-1",
        api_key_id=key.id,
    )
    assert not created and replay.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        create_job(
            session=session,
            request={**REQUEST, "voice": "echo"},
            segments=[SegmentSpec("x")],
            idempotency_key="idem-1",
            api_key_id=key.id,
        )
    # the same key under another owner (or none) is a different job
    other, created = create_job(
        session=session, request=REQUEST, segments=[SegmentSpec("x")], idempotency_key="idem-1"
    )
    assert created and other.id != first.id


def test_get_job_is_scoped_to_its_api_key(session: Session) -> None:
    owner, _ = create_api_key(session=session, name="owner")
    stranger, _ = create_api_key(session=session, name="stranger")
    job = _job(session, api_key_id=owner.id)
    assert get_job(session=session, job_id=job.id, api_key_id=owner.id).id == job.id
    assert get_job(session=session, job_id=job.id).id == job.id
    with pytest.raises(JobNotFound):
        get_job(session=session, job_id=job.id, api_key_id=stranger.id)
    with pytest.raises(JobNotFound):
        cancel_job(session=session, job_id=job.id, api_key_id=stranger.id)
    with pytest.raises(JobNotFound):
        get_job(session=session, job_id="job_missing")


def test_jobs_created_before_any_key_existed_stay_reachable_by_keys(session: Session) -> None:
    """Issue 19's owner rule: a job made while the server was open has no owner; once keys exist every key
    still reaches it (its own jobs stay private to it)."""
    unowned = _job(session)
    key, _ = create_api_key(session=session, name="later")
    other, _ = create_api_key(session=session, name="other")
    owned = _job(session, api_key_id=other.id)
    assert get_job(session=session, job_id=unowned.id, api_key_id=key.id).id == unowned.id
    listed = [j.id for j in list_jobs(session=session, api_key_id=key.id).items]
    assert unowned.id in listed and owned.id not in listed
    cancel_job(session=session, job_id=unowned.id, api_key_id=key.id)


def test_list_jobs_newest_first_with_status_filter_and_cursor(session: Session) -> None:
    key, _ = create_api_key(session=session, name="lister")
    jobs = [_job(session, segments=1, api_key_id=key.id) for _ in range(5)]
    finish_job(session=session, job_id=jobs[1].id, status=JobStatus.SUCCEEDED)

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = list_jobs(session=session, limit=2, cursor=cursor, api_key_id=key.id)
        seen += [job.id for job in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [job.id for job in reversed(jobs)]
    succeeded = list_jobs(session=session, status=JobStatus.SUCCEEDED, api_key_id=key.id).items
    assert [job.id for job in succeeded] == [jobs[1].id]
    with pytest.raises(InvalidCursor):
        list_jobs(session=session, cursor="%%%")


def test_segment_lifecycle_and_progress(session: Session) -> None:
    job = _job(session, segments=2)
    start = start_segment(session=session, job_id=job.id, position=0, max_attempts=3)
    assert start.should_run and start.segment.attempts == 1
    assert get_job(session=session, job_id=job.id).status is JobStatus.RUNNING
    assert not complete_segment(
        session=session, job_id=job.id, position=0, audio_blob_key="jobs/x/0.pcm", audio_seconds=1.5
    )
    again = start_segment(session=session, job_id=job.id, position=0, max_attempts=3)
    assert again.outcome is SegmentStartOutcome.ALREADY_DONE  # a redelivered task never redoes a segment

    assert start_segment(session=session, job_id=job.id, position=1, max_attempts=3).should_run
    assert complete_segment(
        session=session, job_id=job.id, position=1, audio_blob_key="k1", audio_seconds=2.0
    )
    # completing again changes nothing but still reports "ready to finalize" (finalize may have been lost)
    assert complete_segment(
        session=session, job_id=job.id, position=1, audio_blob_key="k1", audio_seconds=2.0
    )
    loaded = get_job(session=session, job_id=job.id)
    assert (loaded.segments_done, loaded.audio_seconds) == (2, 3.5)

    outputs = [{"chapter": None, "blob_key": "jobs/x/out.mp3", "format": "mp3", "duration_s": 3.5}]
    assert finish_job(session=session, job_id=job.id, status=JobStatus.SUCCEEDED, outputs=outputs)
    assert not finish_job(session=session, job_id=job.id, status=JobStatus.FAILED)
    loaded = get_job(session=session, job_id=job.id)
    assert (
        loaded.status is JobStatus.SUCCEEDED and loaded.outputs == outputs and loaded.finished_at is not None
    )
    assert job.id not in list_unfinished_job_ids(session=session)


def test_poison_segment_fails_the_job_after_max_attempts(session: Session) -> None:
    job = _job(session, segments=2)
    for attempt in (1, 2):  # the worker dies mid-segment twice: the task is redelivered each time
        start = start_segment(session=session, job_id=job.id, position=1, max_attempts=2)
        assert start.should_run and start.segment.attempts == attempt
    spent = start_segment(session=session, job_id=job.id, position=1, max_attempts=2)
    assert spent.outcome is SegmentStartOutcome.ATTEMPTS_EXHAUSTED
    loaded = get_job(session=session, job_id=job.id)
    assert loaded.status is JobStatus.FAILED
    assert loaded.error_code == "segment_failed"
    assert "segment 1 failed after 2 attempts" in (loaded.error_message or "")
    assert start_segment(session=session, job_id=job.id, position=0, max_attempts=2).outcome is (
        SegmentStartOutcome.JOB_FINISHED
    )


def test_fail_segment_retries_then_fails_the_job(session: Session) -> None:
    job = _job(session, segments=1)
    start_segment(session=session, job_id=job.id, position=0, max_attempts=2)
    fail_segment(session=session, job_id=job.id, position=0, error="CUDA OOM", max_attempts=2)
    segment = list_segments(session=session, job_id=job.id)[0]
    assert segment.status is SegmentStatus.PENDING and segment.error == "CUDA OOM"
    assert get_job(session=session, job_id=job.id).status is JobStatus.RUNNING

    start_segment(session=session, job_id=job.id, position=0, max_attempts=2)
    failed = fail_segment(session=session, job_id=job.id, position=0, error="CUDA OOM again", max_attempts=2)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == "segment 0 failed after 2 attempts: CUDA OOM again"


def test_cancel_and_delete(session: Session) -> None:
    job = _job(session, segments=2)
    with pytest.raises(JobNotFinished):
        delete_job(session=session, job_id=job.id)
    assert cancel_job(session=session, job_id=job.id).status is JobStatus.CANCELED
    assert cancel_job(session=session, job_id=job.id).status is JobStatus.CANCELED  # idempotent
    assert start_segment(session=session, job_id=job.id, position=0, max_attempts=3).outcome is (
        SegmentStartOutcome.JOB_FINISHED
    )
    assert not complete_segment(
        session=session, job_id=job.id, position=1, audio_blob_key="k", audio_seconds=1
    )
    assert get_job(session=session, job_id=job.id).segments_done == 0

    delete_job(session=session, job_id=job.id)
    session.expire_all()
    with pytest.raises(JobNotFound):
        get_job(session=session, job_id=job.id)
    assert session.get(JobSegment, (job.id, 0)) is None

    done = _job(session, segments=1)
    finish_job(session=session, job_id=done.id, status=JobStatus.SUCCEEDED)
    with pytest.raises(JobAlreadyFinished):
        cancel_job(session=session, job_id=done.id)


def test_unknown_segment_and_non_terminal_finish(session: Session) -> None:
    job = _job(session, segments=1)
    with pytest.raises(JobSegmentNotFound):
        start_segment(session=session, job_id=job.id, position=5, max_attempts=3)
    with pytest.raises(InvalidInputError):
        finish_job(session=session, job_id=job.id, status=JobStatus.RUNNING)
    with pytest.raises(InvalidInputError):
        start_segment(session=session, job_id=job.id, position=0, max_attempts=0)


@pytest.fixture
def committing_sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (the rows stay in the session-wide database; ids are unique)."""
    yield create_session_factory(engine)


def test_concurrent_segment_completions_lose_no_update(committing_sessions: sessionmaker[Session]) -> None:
    segments = 8
    with session_scope(committing_sessions) as session:
        job = _job(session, segments=segments)
    results: list[bool] = []
    errors: list[BaseException] = []
    go = threading.Barrier(segments, timeout=30)

    def run_segment(position: int) -> None:
        try:
            go.wait()
            with session_scope(committing_sessions, write=True) as session:
                assert start_segment(
                    session=session, job_id=job.id, position=position, max_attempts=3
                ).should_run
            with session_scope(committing_sessions, write=True) as session:
                results.append(
                    complete_segment(
                        session=session,
                        job_id=job.id,
                        position=position,
                        audio_blob_key="k",
                        audio_seconds=0.5,
                    )
                )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run_segment, args=(i,)) for i in range(segments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False] * (segments - 1) + [True]  # exactly one completion triggers finalize
    with session_scope(committing_sessions) as session:
        loaded = get_job(session=session, job_id=job.id)
        assert (loaded.segments_done, loaded.audio_seconds, loaded.status) == (
            segments,
            4.0,
            JobStatus.RUNNING,
        )


def test_concurrent_replays_of_one_idempotency_key_create_one_job(
    committing_sessions: sessionmaker[Session],
) -> None:
    key = f"race-{new_id('x')}"
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    go = threading.Barrier(4, timeout=30)

    def submit() -> None:
        try:
            go.wait()
            with session_scope(committing_sessions, write=True) as session:
                job, created = create_job(
                    session=session, request=REQUEST, segments=[SegmentSpec("x")], idempotency_key=key
                )
                results.append((job.id, created))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
