"""Renewed segment claims (issue 19), on Postgres: the holder of a claim extends its short lease while it
runs, with a conditional update that only its own token passes, so a segment that takes longer than one lease
is neither claimed by a second delivery nor released by the janitor while its holder lives; a superseded or
released claim's renewal fails and its holder stops renewing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.contracts import SynthesisJob
from tests.fixtures.postgres import admin_url, temporary_database
from tests.jobs.test_janitor import RecordingCeleryQueue
from voice_store.blobs.local import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, session_scope, upgrade_schema
from voice_store.job_transitions import complete_segment, release_expired, renew_claim, start_segment
from voice_store.job_transitions.claims import SegmentRef
from voice_store.jobs import SegmentSpec, create_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import JobSegment, SegmentStatus
from workers.jobs.janitor import JobJanitor
from workers.jobs.segments import SegmentOutcome, SegmentRunner

LEASE_S = 30.0


@pytest.fixture(scope="module")
def sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    """A database of this module's own: its claims stay running, which the session's shared database's
    other tests (nothing running after a job ends) must not see."""
    with temporary_database(admin_url(), prefix="qtts_renewal") as url:
        upgrade_schema(url)
        engine = create_db_engine(url)
        yield create_session_factory(engine)
        engine.dispose()


def _job(sessions: sessionmaker[Session]) -> str:
    with session_scope(sessions, write=True) as session:
        job, _ = create_job(
            session=session, request={"synthesis": {"model": "m"}}, segments=[SegmentSpec("s")]
        )
        return job.id


def _claim(sessions: sessionmaker[Session], job_id: str, when: datetime, owner: str) -> int:
    with session_scope(sessions, write=True) as session:
        start = start_segment(
            session=session, job_id=job_id, position=0, max_attempts=3, owner=owner, lease_s=LEASE_S, now=when
        )
        assert start.should_run, start.outcome
        return start.token


def _renew(sessions: sessionmaker[Session], job_id: str, token: int, when: datetime) -> bool:
    with session_scope(sessions, write=True) as session:
        return renew_claim(session=session, job_id=job_id, position=0, token=token, lease_s=LEASE_S, now=when)


def _lease(sessions: sessionmaker[Session], job_id: str) -> datetime | None:
    with session_scope(sessions) as session:
        return session.get(JobSegment, (job_id, 0)).lease_expires_at


def test_a_renewal_extends_only_the_current_claims_lease(sessions: sessionmaker[Session]) -> None:
    t0 = utcnow()
    job_id = _job(sessions)
    lost = _claim(sessions, job_id, t0, owner="elsewhere:1")
    assert _renew(sessions, job_id, lost, t0 + timedelta(seconds=10))
    assert _lease(sessions, job_id) == t0 + timedelta(seconds=10 + LEASE_S)
    current = _claim(sessions, job_id, t0 + timedelta(seconds=50), owner="here:2")  # the lease ran out
    assert current == lost + 1
    assert not _renew(sessions, job_id, lost, t0 + timedelta(seconds=55))  # superseded: changes nothing
    assert _lease(sessions, job_id) == t0 + timedelta(seconds=50 + LEASE_S)
    assert _renew(sessions, job_id, current, t0 + timedelta(seconds=60))
    assert _lease(sessions, job_id) == t0 + timedelta(seconds=60 + LEASE_S)
    with session_scope(sessions, write=True) as session:
        complete_segment(
            session=session, job_id=job_id, position=0, audio_blob_key="k", audio_seconds=1.0, token=current
        )
    assert not _renew(sessions, job_id, current, t0 + timedelta(seconds=70))  # done: nothing to hold
    assert _lease(sessions, job_id) is None


def test_a_claim_the_janitor_released_is_not_renewed(sessions: sessionmaker[Session]) -> None:
    t0 = utcnow() - timedelta(minutes=5)
    job_id = _job(sessions)
    token = _claim(sessions, job_id, t0, owner="elsewhere:1")
    later = t0 + timedelta(seconds=LEASE_S + 1)
    with session_scope(sessions, write=True) as session:
        ref = SegmentRef(job_id, "m", 0, token)
        assert release_expired(session, ref, now=later, unleased_before=t0)
    assert not _renew(sessions, job_id, token, later + timedelta(seconds=1))
    with session_scope(sessions) as session:
        segment = session.get(JobSegment, (job_id, 0))
        assert (segment.status, segment.lease_expires_at) == (SegmentStatus.PENDING, None)


def test_a_segment_longer_than_its_lease_is_not_taken_while_its_holder_renews(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Synthesis lasts over three leases; meanwhile a second delivery and the janitor find the claim live."""
    lease_s = 0.6  # renewed every 0.2 s
    blobs = LocalBlobStore(tmp_path / "blobs")
    job_id = _job(sessions)
    synthesized: list[str] = []
    queue = RecordingCeleryQueue()
    janitor = JobJanitor(sessions, queue, stale_after=timedelta(minutes=15), interval_s=60)  # type: ignore[arg-type]
    meanwhile: list[SegmentOutcome | int] = []

    def counted(job: SynthesisJob) -> Iterator[bytes]:
        synthesized.append(job.request_id)
        yield b"\x02\x00" * 20

    second = SegmentRunner(
        sessions=sessions,
        blobs=blobs,
        synthesize=counted,
        max_attempts=3,
        max_piece_chars=200,
        lease_s=lease_s,
    )

    def slow(job: SynthesisJob) -> Iterator[bytes]:
        synthesized.append(job.request_id)
        for _ in range(2):
            time.sleep(2 * lease_s)  # the claim's first lease is long gone
            meanwhile.append(second.run(job_id, 0))
            meanwhile.append(janitor.sweep())
        yield b"\x01\x00" * 20

    first = SegmentRunner(
        sessions=sessions, blobs=blobs, synthesize=slow, max_attempts=3, max_piece_chars=200, lease_s=lease_s
    )
    assert first.run(job_id, 0) is SegmentOutcome.READY
    assert meanwhile == [SegmentOutcome.SKIPPED, 0, SegmentOutcome.SKIPPED, 0]
    assert synthesized == [f"{job_id}:0"] and queue.segments == []
    with session_scope(sessions) as session:
        segment = session.get(JobSegment, (job_id, 0))
        assert (segment.status, segment.attempts, segment.claim_token) == (SegmentStatus.DONE, 1, 1)
