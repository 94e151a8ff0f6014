"""API keys on the WebSocket: the Authorization header (Bearer or Api-Key), ``?api_key=``, or
``session.config``'s ``api_key``; a wrong key closes 1008; a session counts as one of the key's streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from websockets.exceptions import ConnectionClosed

from tests.realtime.client import event, open_session, send, speak
from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes
from voice_store import api_keys
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from web.store_adapters import StoreApiKeys


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server with keys on; yields (url, a key allowing one stream)."""
    url = sqlite_url(Path(tmp_path_factory.mktemp("realtime-auth")) / "store.sqlite3")
    upgrade_schema(url)
    sessions: sessionmaker[Session] = create_session_factory(create_db_engine(url))
    with session_scope(sessions, write=True) as session:
        _, token = api_keys.create_api_key(session=session, name="rt", max_concurrent_streams=1)
    with serve_fakes({"fake-CustomVoice": FakeEngine()}, api_keys=StoreApiKeys(sessions)) as base_url:
        yield base_url, token


def _closed_with(ws: object, code: int) -> None:
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)  # type: ignore[attr-defined]
    assert ws.close_code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["bearer", "api-key", "query", "config"])
def test_each_way_of_giving_the_key_opens_the_session(secured: tuple[str, str], how: str) -> None:
    url, token = secured
    headers = {
        "bearer": {"Authorization": f"Bearer {token}"},
        "api-key": {"Authorization": f"Api-Key {token}"},
    }
    query = {"api_key": token} if how == "query" else {}
    with open_session(url, headers=headers.get(how), **query) as ws:
        send(ws, type="session.config", voice="alloy", **({"api_key": token} if how == "config" else {}))
        assert speak(ws, ["Authorized."]).sentences == ["Authorized."]


@pytest.mark.parametrize("how", ["header", "query", "config", "none"])
def test_a_wrong_or_missing_key_closes_1008(secured: tuple[str, str], how: str) -> None:
    url, _ = secured
    headers = {"Authorization": "Bearer wrong"} if how == "header" else None
    query = {"api_key": "wrong"} if how == "query" else {}
    with open_session(url, headers=headers, **query) as ws:
        if how in ("config", "none"):
            send(
                ws, type="session.config", voice="alloy", **({"api_key": "wrong"} if how == "config" else {})
            )
        refused = event(ws)
        assert (refused["type"], refused["code"]) == ("error", "invalid_api_key")
        _closed_with(ws, 1008)


def test_before_the_key_arrives_nothing_else_is_served(secured: tuple[str, str]) -> None:
    url, token = secured
    with open_session(url) as ws:
        send(ws, type="input.text", text="Sneaky.")
        assert event(ws)["code"] == "session_not_configured"
        send(ws, type="session.config", voice="alloy", api_key=token)
        assert speak(ws, ["Now."]).sentences == ["Now."]


def test_a_session_holds_one_of_the_keys_streams(secured: tuple[str, str]) -> None:
    url, token = secured
    auth = {"Authorization": f"Bearer {token}"}
    with open_session(url, headers=auth) as first:
        send(first, type="session.config", voice="alloy")
        with open_session(url, headers=auth) as second:
            refused = event(second)
            assert refused["code"] == "too_many_streams"
            _closed_with(second, 1008)
        assert speak(first, ["Still mine."]).sentences == ["Still mine."]
    for _ in range(100):  # released once the server has seen the first session end
        with open_session(url, headers=auth) as again:
            send(again, type="session.config", voice="alloy")
            send(again, type="input.done")
            if event(again)["type"] == "session.done":
                assert speak(again, ["Free again."]).sentences == ["Free again."]
                return
        time.sleep(0.02)
    pytest.fail("the first session's stream was never released")
