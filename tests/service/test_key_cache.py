"""API-key lookups are remembered briefly (issue 19): a database blip does not fail requests whose answer is
known, and an unknown answer during an outage is the database's error (mapped to 503), not a wrong one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common.errors import Unauthorized
from voice_store.api_keys import create_api_key
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from web.store_adapters import StoreApiKeys

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"  # the discard port


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = sqlite_url(tmp_path / "keys.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    yield create_session_factory(engine)
    engine.dispose()


def _take_database_down(sessions: sessionmaker[Session]) -> None:
    sessions.configure(bind=create_engine(UNREACHABLE))


def test_known_answers_survive_a_database_outage(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions, write=True) as session:
        _, token = create_api_key(session=session, name="ci")
    keys = StoreApiKeys(sessions, ttl_s=0.0)  # every call refreshes: only the fallback can answer
    assert asyncio.run(keys.authenticate(token)) is not None
    with pytest.raises(Unauthorized):
        asyncio.run(keys.authenticate("qtts_wrong"))
    _take_database_down(sessions)
    assert asyncio.run(keys.authenticate(token)) is not None  # remembered
    with pytest.raises(Unauthorized):
        asyncio.run(keys.authenticate(None))  # keys exist: still refused without one
    with pytest.raises(OperationalError):  # never seen: the outage is the answer (a 503 in web.errors)
        asyncio.run(keys.authenticate("qtts_" + "a" * 12 + "_" + "b" * 43))


def test_an_open_server_serves_during_an_outage_once_it_knows_no_key_exists(
    sessions: sessionmaker[Session],
) -> None:
    keys = StoreApiKeys(sessions, ttl_s=0.0)
    assert asyncio.run(keys.authenticate(None)) is None
    _take_database_down(sessions)
    assert asyncio.run(keys.authenticate(None)) is None
    fresh = StoreApiKeys(sessions)
    with pytest.raises(OperationalError):
        asyncio.run(fresh.authenticate(None))


def test_a_new_key_is_seen_within_the_cache_time(sessions: sessionmaker[Session]) -> None:
    keys = StoreApiKeys(sessions, ttl_s=3600.0)
    assert asyncio.run(keys.authenticate(None)) is None
    with session_scope(sessions, write=True) as session:
        create_api_key(session=session, name="late")
    assert asyncio.run(keys.authenticate(None)) is None  # remembered for the cache time...
    keys.invalidate()
    with pytest.raises(Unauthorized):  # ...or until invalidated
        asyncio.run(keys.authenticate(None))
