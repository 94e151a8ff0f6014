"""``JobService`` rules that need no engine: commit before enqueue, a failed enqueue, segmentation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.errors import Unavailable
from common.jobs.options import JobsOptions
from common.jobs.segmentation import Chapter, segment_chapters
from common.jobs.service import JobService, JobSubmission
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.jobs import get_job
from voice_store.models.jobs import JobStatus


class RecordingQueue:
    """Records what was enqueued and whether the job was committed (visible to a new session) by then."""

    def __init__(self, sessions: sessionmaker[Session], *, fail: bool = False) -> None:
        self.sessions = sessions
        self.fail = fail
        self.submitted: list[tuple[str, list[int], JobStatus]] = []

    def start(self) -> None: ...

    def close(self) -> None: ...

    def deliver_webhooks(self) -> None: ...

    def submit(self, job_id: str, *, model: str, positions: list[int]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        with session_scope(self.sessions) as session:  # another session: sees only committed rows
            status = get_job(session=session, job_id=job_id).status
        self.submitted.append((job_id, positions, status))


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = sqlite_url(tmp_path / "jobs.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    yield create_session_factory(engine)
    engine.dispose()


def service(sessions: sessionmaker[Session], queue: RecordingQueue, tmp_path: Path) -> JobService:
    options = JobsOptions(segment_chars=64)
    return JobService(
        sessions=sessions,
        blobs=LocalBlobStore(tmp_path / "b"),
        queue=queue,
        options=options,
        max_piece_chars=300,
    )


def submission(text: str, key: str | None = None) -> JobSubmission:
    return JobSubmission(
        request={"text": text}, model="m", chapters=[Chapter(None, text)], idempotency_key=key
    )


def test_the_job_is_committed_before_its_segments_are_enqueued(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    queue = RecordingQueue(sessions)
    created = service(sessions, queue, tmp_path).create(submission("One sentence. " * 12))
    ((job_id, positions, status),) = queue.submitted
    assert (job_id, status) == (created.job.id, JobStatus.QUEUED)
    assert positions == list(range(created.job.segments_total)) and len(positions) > 1


def test_a_replay_enqueues_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    queue = RecordingQueue(sessions)
    jobs = service(sessions, queue, tmp_path)
    first = jobs.create(submission("Hello there.", key="k"))
    second = jobs.create(submission("Hello there.", key="k"))
    assert (second.job.id, second.created, len(queue.submitted)) == (first.job.id, False, 1)


def test_a_job_that_cannot_be_enqueued_fails_instead_of_waiting_forever(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    jobs = service(sessions, RecordingQueue(sessions, fail=True), tmp_path)
    with pytest.raises(Unavailable, match="broker unreachable"):
        jobs.create(submission("Hello there."))
    ((job),) = jobs.list(api_key_id=None, limit=10, cursor=None, status=None).items
    assert (job.status, job.error_code) == (JobStatus.FAILED, "enqueue_failed")


def test_segments_follow_sentences_and_chapters_and_lose_no_text() -> None:
    chapters = [
        Chapter("A", "First sentence here. Second one is a little longer than that. Third!"),
        Chapter("B", "Short chapter."),
    ]
    segments = segment_chapters(chapters, max_chars=40)
    assert [s.chapter for s in segments] == [0, 0, 0, 1]
    assert all(len(s.text) <= 40 for s in segments)
    assert segments[0].text == "First sentence here."  # a break at a sentence end, not mid-sentence
    assert " ".join(s.text for s in segments[:3]) == chapters[0].text
