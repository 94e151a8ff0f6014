"""A real Postgres restart under a running API (issue 19): during the outage, speech with a built-in voice
and a key the server has seen still answers 200; what needs the database answers 503 with Retry-After (never
500), ``/readyz`` says the database is down; after the restart everything answers again, no API restart. A
segment whose claim is renewed through the restart: the renewals that meet the outage fail and are tried
again at the next tick, the claim holds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.contracts import SynthesisJob
from tests.faults.servers import PrivatePostgres, private_postgres
from tests.service.fake_engine import FakeEngine
from tests.service.harness import fake_services, serve
from voice_store import api_keys
from voice_store.blobs.local import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, session_scope, upgrade_schema
from voice_store.jobs import SegmentSpec, create_job
from voice_store.models.base import utcnow
from voice_store.models.jobs import JobSegment
from web.app import create_app
from web.readiness import database_check
from web.store_adapters import StoreApiKeys
from workers.jobs.segments import SegmentOutcome, SegmentRunner

SPEECH = {"model": "tts-1", "voice": "alloy", "input": "Hello there.", "response_format": "pcm"}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        upgrade_schema(server.url)
        yield server


@pytest.fixture(scope="module")
def sessions(postgres: PrivatePostgres) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(postgres.url)
    yield create_session_factory(engine)
    engine.dispose()


def _speak(url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/speech", json=SPEECH, headers={"authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_postgres_restart_gives_503_not_500_and_recovers_without_a_restart(
    postgres: PrivatePostgres, sessions: sessionmaker[Session]
) -> None:
    with session_scope(sessions, write=True) as session:
        _, seen = api_keys.create_api_key(session=session, name="seen")
        _, unseen = api_keys.create_api_key(session=session, name="unseen")
    services = fake_services(
        {"fake-CustomVoice": FakeEngine("custom_voice")},
        api_keys=StoreApiKeys(sessions, ttl_s=0.0),  # every request asks the database: only a fallback helps
        readiness=(database_check(sessions),),
    )
    with serve(create_app(services)) as url:
        assert _speak(url, seen).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        postgres.stop()
        try:
            during = _speak(url, seen)
            assert during.status_code == 200, during.text  # a built-in voice needs no database
            refused = _speak(url, unseen)  # never seen: only the database can tell
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "database_unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            ready = httpx.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 503 and "database" in ready.json()["error"]["message"]
        finally:
            postgres.start()
        assert _speak(url, unseen).status_code == 200
        assert _speak(url, seen).status_code == 200
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}


def test_a_claim_renewal_that_meets_the_outage_is_tried_again_and_the_claim_holds(
    postgres: PrivatePostgres,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="workers.jobs.claim_renewal")
    lease_s = 1.5  # renewed every 0.5 s
    with session_scope(sessions, write=True) as session:
        job, _ = create_job(
            session=session, request={"synthesis": {"model": "m"}}, segments=[SegmentSpec("s")]
        )
        job_id = job.id
    after: dict[str, datetime | None] = {}

    def through_a_restart(job: SynthesisJob) -> Iterator[bytes]:
        postgres.stop()
        try:
            time.sleep(lease_s)  # the renewals meanwhile fail
        finally:
            postgres.start()
        time.sleep(lease_s)  # a few ticks
        with session_scope(sessions) as session:
            after["lease"] = session.get(JobSegment, (job_id, 0)).lease_expires_at
        after["now"] = utcnow()
        yield b"\x01\x00" * 10

    runner = SegmentRunner(
        sessions=sessions,
        blobs=LocalBlobStore(tmp_path / "blobs"),
        synthesize=through_a_restart,
        max_attempts=3,
        max_piece_chars=200,
        lease_s=lease_s,
    )
    assert runner.run(job_id, 0) is SegmentOutcome.READY
    assert any("not renewed" in r.getMessage() for r in caplog.records)  # some met the outage
    assert after["lease"] is not None and after["now"] is not None
    assert after["lease"] > after["now"]  # renewed again after the restart
