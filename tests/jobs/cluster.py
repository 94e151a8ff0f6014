"""What the distributed jobs tests share: job settings for the cluster and the segments' state in the DB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from voice_store.db import create_db_engine, create_session_factory, session_scope
from voice_store.jobs import get_job, list_segments
from voice_store.models.jobs import SegmentStatus

MODEL = "fake-CustomVoice"
JOB_ENV = {
    "QWEN_TTS_JOBS__SEGMENT_CHARS": "64",
    "QWEN_TTS_JOBS__WEBHOOK_ALLOW_PRIVATE": "true",
    "QWEN_TTS_JOBS__WEBHOOK_TIMEOUT_S": "2",
    "QWEN_TTS_JOBS__WEBHOOK_RETRY_SCHEDULE_S": "[0.5, 0.5, 0.5]",
}


@contextmanager
def _session(database_url: str) -> Iterator[Session]:
    """A session on the cluster's database, from an engine of its own (disposed after)."""
    engine = create_db_engine(database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def segments(database_url: str, job_id: str) -> list[tuple[SegmentStatus, int]]:
    with _session(database_url) as session:
        return [(s.status, s.attempts) for s in list_segments(session=session, job_id=job_id)]


def claim_owners(database_url: str, job_id: str) -> list[str | None]:
    """Each segment's claim owner (``host:pid``; None once done or never claimed)."""
    with _session(database_url) as session:
        return [s.claim_owner for s in list_segments(session=session, job_id=job_id)]


def finalize_attempts(database_url: str, job_id: str) -> int:
    with _session(database_url) as session:
        return get_job(session=session, job_id=job_id).finalize_attempts


def running_segment(database_url: str, job_id: str, *, after: int, timeout_s: float = 60.0) -> int:
    """The position of a segment being synthesized, once ``after`` segments are done."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = segments(database_url, job_id)
        done = sum(status is SegmentStatus.DONE for status, _ in states)
        running = [n for n, (status, _) in enumerate(states) if status is SegmentStatus.RUNNING]
        if done >= after and running:
            return running[0]
        time.sleep(0.01)
    raise TimeoutError(f"no running segment of job {job_id} after {timeout_s} s")
