"""Engine and session behaviour: URL checks, SQLite pragmas, UTC datetimes, units of work, SQLite locking."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from voice_store.api_keys import create_api_key, get_api_key
from voice_store.db import (
    create_db_engine,
    create_session_factory,
    parse_database_url,
    session_scope,
    sqlite_url,
    upgrade_schema,
)
from voice_store.errors import InvalidInputError
from voice_store.models.base import new_id


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "not a url at all", "postgresql+asyncpg://u@h/db"],
)
def test_unsupported_or_unusable_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidInputError):
        create_db_engine(url)


def test_postgres_url_gets_the_psycopg3_driver() -> None:
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    engine = create_db_engine(sqlite_url(tmp_path / "nested" / "dir" / "s.sqlite3"))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_datetimes_come_back_aware_utc_and_naive_ones_are_refused(session: Session) -> None:
    local = timezone(timedelta(hours=5, minutes=30))
    expires = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=local)
    record, _ = create_api_key(session=session, name="tz", expires_at=expires)
    session.expire_all()
    loaded = get_api_key(session=session, key_id=record.id)
    assert loaded.expires_at == expires
    assert loaded.expires_at.tzinfo == timezone.utc
    assert loaded.created_at.tzinfo == timezone.utc

    with pytest.raises(Exception, match="naive datetime"):
        create_api_key(session=session, name="naive", expires_at=datetime(2030, 1, 1))


def test_session_scope_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    factory = create_session_factory(engine)
    with session_scope(factory) as session:
        kept, _ = create_api_key(session=session, name="kept")
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        dropped, _ = create_api_key(session=session, name="dropped")
        raise RuntimeError("boom")
    with session_scope(factory) as session:
        assert session.get(type(kept), kept.id) is not None
        assert session.get(type(dropped), dropped.id) is None
        session.delete(session.get(type(kept), kept.id))


@pytest.mark.parametrize("write", [True, False])
def test_sqlite_write_sessions_serialize_read_then_write(tmp_path: Path, write: bool) -> None:
    """Two read-then-write units of work racing on SQLite both succeed with ``write=True``; with deferred
    transactions (the control) the second writer fails with "database is locked" or an update is lost."""
    url = sqlite_url(tmp_path / "race.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    with session_scope(factory) as session:
        record, _ = create_api_key(session=session, name="counter", max_concurrent_streams=1)
    both_read = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            with session_scope(factory, write=write) as session:
                key = get_api_key(session=session, key_id=record.id)
                current = key.max_concurrent_streams or 0
                # With BEGIN IMMEDIATE the second thread waits at BEGIN, so the barrier times out here.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait(timeout=0.5)
                key.max_concurrent_streams = current + 1
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=increment) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with session_scope(factory) as session:
        final = get_api_key(session=session, key_id=record.id).max_concurrent_streams
    engine.dispose()
    if write:
        assert errors == []
        assert final == 3  # no lost update
    else:
        assert [type(e) for e in errors] == [OperationalError] or final == 2
        assert all("database is locked" in str(e) for e in errors)


def test_ids_are_unique_and_strictly_increasing_within_a_process() -> None:
    ids = [new_id("job") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("job_") and len(i) == 30 for i in ids)
