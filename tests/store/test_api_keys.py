"""API-key repository contract, on SQLite and on Postgres."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from voice_store.api_keys import (
    create_api_key,
    get_api_key,
    has_active_api_keys,
    hash_token,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.errors import ApiKeyNotFound, InvalidApiKey, InvalidInputError
from voice_store.models import ApiKey
from voice_store.models.base import utcnow


def test_create_returns_plaintext_once_and_stores_only_a_hash(session: Session) -> None:
    record, token = create_api_key(session=session, name="ci", max_concurrent_streams=3)
    assert token.startswith(record.prefix + "_")
    assert record.prefix.startswith("qtts_") and len(record.prefix) == 17
    assert len(token) == 61
    stored = session.get(ApiKey, record.id)
    assert stored is not None
    assert stored.secret_hash == hash_token(token)
    assert token not in (stored.secret_hash, stored.prefix, stored.name)
    assert stored.max_concurrent_streams == 3


def test_tokens_are_unique(session: Session) -> None:
    tokens = {create_api_key(session=session, name=f"k{i}")[1] for i in range(20)}
    assert len(tokens) == 20


def test_verify_accepts_the_token_and_records_use(session: Session) -> None:
    record, token = create_api_key(session=session, name="user")
    assert record.last_used_at is None
    assert verify_api_key(session=session, token=token).id == record.id
    assert get_api_key(session=session, key_id=record.id).last_used_at is not None


def test_verify_touches_last_used_at_at_most_once_per_interval(session: Session) -> None:
    record, token = create_api_key(session=session, name="busy")
    start = utcnow()
    verify_api_key(session=session, token=token, now=start)
    verify_api_key(session=session, token=token, now=start + timedelta(seconds=30))
    assert record.last_used_at == start
    verify_api_key(session=session, token=token, now=start + timedelta(seconds=61))
    assert record.last_used_at == start + timedelta(seconds=61)


def _wrong_secret(token: str) -> str:
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


@pytest.mark.parametrize(
    "mangle",
    [
        _wrong_secret,
        lambda t: t.upper(),
        lambda t: t[:-1],
        lambda t: t + "x",
        lambda t: "",
        lambda t: "Bearer " + t,
        lambda t: "sk-" + t[3:],
        lambda t: t[:17] + "-" + t[18:],
        lambda t: "qtts_" + "a" * 12 + t[17:],  # a well-formed token of an unknown key
    ],
)
def test_verify_rejects_anything_but_the_exact_token(session: Session, mangle: object) -> None:
    _, token = create_api_key(session=session, name="strict")
    with pytest.raises(InvalidApiKey):
        verify_api_key(session=session, token=mangle(token))  # type: ignore[operator]


def test_revoked_and_expired_keys_are_invalid(session: Session) -> None:
    revoked, revoked_token = create_api_key(session=session, name="revoked")
    first = revoke_api_key(session=session, key_id=revoked.id).revoked_at
    assert revoke_api_key(session=session, key_id=revoked.id).revoked_at == first  # idempotent
    with pytest.raises(InvalidApiKey):
        verify_api_key(session=session, token=revoked_token)

    soon = utcnow() + timedelta(minutes=5)
    expiring, expiring_token = create_api_key(session=session, name="expiring", expires_at=soon)
    assert verify_api_key(session=session, token=expiring_token).id == expiring.id
    with pytest.raises(InvalidApiKey):
        verify_api_key(session=session, token=expiring_token, now=soon + timedelta(seconds=1))


def test_revoke_missing_key(session: Session) -> None:
    with pytest.raises(ApiKeyNotFound):
        revoke_api_key(session=session, key_id="key_missing")


def test_list_and_has_active_keys(session: Session) -> None:
    session.query(ApiKey).delete()  # rolled back after the test
    assert not has_active_api_keys(session=session)
    live, _ = create_api_key(session=session, name="live")
    dead, _ = create_api_key(session=session, name="dead")
    revoke_api_key(session=session, key_id=dead.id)
    assert [k.id for k in list_api_keys(session=session)] == [live.id]
    assert [k.id for k in list_api_keys(session=session, include_revoked=True)] == [live.id, dead.id]
    assert has_active_api_keys(session=session)
    revoke_api_key(session=session, key_id=live.id)
    assert not has_active_api_keys(session=session)
    create_api_key(session=session, name="expired", expires_at=utcnow() - timedelta(seconds=1))
    assert not has_active_api_keys(session=session)


@pytest.mark.parametrize(("name", "streams"), [("", None), ("x" * 101, None), ("ok", 0)])
def test_create_rejects_bad_input(session: Session, name: str, streams: int | None) -> None:
    with pytest.raises(InvalidInputError):
        create_api_key(session=session, name=name, max_concurrent_streams=streams)


def test_verify_survives_a_busy_sqlite_database(tmp_path: Path) -> None:
    """A read transaction whose snapshot went stale cannot write on SQLite: verification still succeeds."""
    url = sqlite_url(tmp_path / "busy.sqlite3")
    upgrade_schema(url)
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    try:
        with session_scope(factory) as session:
            record, token = create_api_key(session=session, name="busy")
        with session_scope(factory) as reader:
            get_api_key(session=reader, key_id=record.id)  # the read snapshot starts here
            with session_scope(factory) as writer:
                create_api_key(session=writer, name="concurrent write")
            verified = verify_api_key(session=reader, token=token)  # its last_used_at write hits SQLITE_BUSY
            assert verified.id == record.id
        with session_scope(factory) as session:
            assert get_api_key(session=session, key_id=record.id).last_used_at is None  # skipped, not failed
            assert verify_api_key(session=session, token=token).id == record.id
        with session_scope(factory) as session:
            assert get_api_key(session=session, key_id=record.id).last_used_at is not None
    finally:
        engine.dispose()
