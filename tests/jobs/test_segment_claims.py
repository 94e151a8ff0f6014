"""Exactly-once segments (issue 19): a claim holds its segment with a lease and a fencing token; duplicate
deliveries neither run nor count an attempt; a superseded claim's late result is discarded; the janitor sends
an expired claim's segment once (not on every sweep) and the pending segments of jobs whose messages were
lost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.contracts import SynthesisJob
from common.jobs.blob_keys import segment_key
from tests.jobs.test_janitor import RecordingCeleryQueue
from voice_store.blobs.local import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.job_transitions import SegmentStart, SegmentStartOutcome, complete_segment, start_segment
from voice_store.jobs import SegmentSpec, create_job, get_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import JobSegment, SegmentStatus
from workers.jobs.janitor import JobJanitor
from workers.jobs.segments import SegmentOutcome, SegmentRunner, owner_process_gone

LEASE = timedelta(minutes=15)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = sqlite_url(tmp_path / "claims.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    yield create_session_factory(engine)
    engine.dispose()


def _job(session: Session, segments: int = 1) -> str:
    job, _ = create_job(
        session=session,
        request={"synthesis": {"model": "m"}},
        segments=[SegmentSpec(f"s{n}") for n in range(segments)],
    )
    return job.id


def _claim(session: Session, job_id: str, when: datetime, owner: str = "w1") -> SegmentStart:
    return start_segment(
        session=session,
        job_id=job_id,
        position=0,
        max_attempts=3,
        owner=owner,
        lease_s=LEASE.total_seconds(),
        now=when,
    )


def test_a_duplicate_delivery_during_a_live_claim_neither_runs_nor_counts_an_attempt(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_scope(sessions, write=True) as session:
        job_id = _job(session)
        first = _claim(session, job_id, now)
        second = _claim(session, job_id, now + timedelta(seconds=5), owner="w2")
        third = _claim(session, job_id, now + timedelta(seconds=6), owner="w3")
        segment = session.get(JobSegment, (job_id, 0))
        assert first.outcome is SegmentStartOutcome.RUN and first.token == 1
        assert second.outcome is third.outcome is SegmentStartOutcome.CLAIMED
        assert (segment.attempts, segment.claim_owner, segment.claim_token) == (1, "w1", 1)


def test_an_expired_claim_is_sent_once_and_its_late_result_is_discarded(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_scope(sessions, write=True) as session:
        job_id = _job(session)
        lost = _claim(session, job_id, now - LEASE - timedelta(minutes=1))  # its worker was SIGKILLed
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=LEASE, interval_s=60)  # type: ignore[arg-type]
    assert janitor.sweep(now) == 1
    assert janitor.sweep(now + timedelta(seconds=30)) == 0  # not again on every sweep
    assert janitor.sweep(now + timedelta(seconds=60)) == 0
    assert queue.segments == [(job_id, "m", 0)]
    with session_scope(sessions, write=True) as session:
        current = _claim(session, job_id, now + timedelta(seconds=61), owner="w2")
        assert current.outcome is SegmentStartOutcome.RUN and current.token == lost.token + 1
        late = complete_segment(
            session=session,
            job_id=job_id,
            position=0,
            audio_blob_key="late",
            audio_seconds=9.0,
            token=lost.token,
        )
        assert not late and session.get(JobSegment, (job_id, 0)).status is SegmentStatus.RUNNING
        assert complete_segment(
            session=session,
            job_id=job_id,
            position=0,
            audio_blob_key="current",
            audio_seconds=1.0,
            token=current.token,
        )
        job = get_job(session=session, job_id=job_id)
        assert (job.segments_done, job.audio_seconds, job.segments[0].audio_blob_key) == (1, 1.0, "current")
        assert job.segments[0].attempts == 2


def test_pending_segments_of_a_job_whose_messages_were_lost_are_sent_again(
    sessions: sessionmaker[Session],
) -> None:
    """A broker restarted without persistence: the job never started, so no segment was ever running."""
    with session_scope(sessions, write=True) as session:
        job_id = _job(session, segments=2)
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=LEASE, interval_s=60)  # type: ignore[arg-type]
    assert janitor.sweep(utcnow()) == 0  # their messages may still be on their way
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert janitor.sweep(later) == 2
    assert queue.segments == [(job_id, "m", 0), (job_id, "m", 1)]
    assert janitor.sweep(later + timedelta(seconds=30)) == 0


def test_a_superseded_runner_discards_its_audio_and_keeps_the_current_claims(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The first worker stalls past its lease; the segment is claimed again; the stalled one then finishes."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    with session_scope(sessions, write=True) as session:
        job_id = _job(session)
    holder: dict[str, SegmentRunner] = {}

    def stalls(job: SynthesisJob) -> Iterator[bytes]:  # meanwhile its lease expires and another claims it
        with session_scope(sessions, write=True) as session:
            session.get(JobSegment, (job_id, 0)).lease_expires_at = utcnow() - timedelta(seconds=1)
        assert holder["second"].run(job_id, 0) is SegmentOutcome.READY
        yield b"\x01\x00" * 10

    first = SegmentRunner(
        sessions=sessions, blobs=blobs, synthesize=stalls, max_attempts=3, max_piece_chars=200, lease_s=60
    )
    holder["second"] = SegmentRunner(
        sessions=sessions,
        blobs=blobs,
        synthesize=lambda job: iter([b"\x02\x00" * 20]),
        max_attempts=3,
        max_piece_chars=200,
        lease_s=60,
    )
    assert first.run(job_id, 0) is SegmentOutcome.SKIPPED
    with session_scope(sessions) as session:
        job = get_job(session=session, job_id=job_id)
        assert job.segments_done == 1 and job.segments[0].audio_blob_key == segment_key(job_id, 0, 2)
    assert blobs.get(segment_key(job_id, 0, 2)) == b"\x02\x00" * 20
    assert not blobs.exists(segment_key(job_id, 0, 1))


def test_a_live_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """A worker child SIGKILLed: Celery redelivers its task to the new child, which must not wait for the
    lease (the old owner's process is gone)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = utcnow()
    with session_scope(sessions, write=True) as session:
        job_id = _job(session)
        _claim(session, job_id, now, owner=f"{socket.gethostname()}:{dead.pid}")
        elsewhere = _claim(session, job_id, now, owner="other-host:1")
        assert elsewhere.outcome is SegmentStartOutcome.CLAIMED
        taken = start_segment(
            session=session,
            job_id=job_id,
            position=0,
            max_attempts=3,
            owner="me",
            lease_s=60,
            owner_lost=owner_process_gone,
            now=now,
        )
        assert taken.outcome is SegmentStartOutcome.RUN and taken.token == 2
    assert not owner_process_gone(f"{socket.gethostname()}:{os.getpid()}")
    assert not owner_process_gone(f"other-host:{dead.pid}")
