"""API keys from the real hashed store (SQLite via Alembic), per-key stream limits, the queue-depth cap."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes
from voice_store import api_keys
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from web.store_adapters import StoreApiKeys

# 248 characters → 125 chunks × 20 ms: a held stream stays open ~2.5 s, long enough to overlap others
SPEECH = {
    "model": "tts-1",
    "voice": "alloy",
    "input": "Long enough to keep streaming. " * 8,
    "response_format": "pcm",
    "stream": True,
}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    url = sqlite_url(Path(tmp_path_factory.mktemp("auth")) / "store.sqlite3")
    upgrade_schema(url)
    return create_session_factory(create_db_engine(url))


def _create_key(sessions: sessionmaker[Session], name: str, max_streams: int | None = None) -> str:
    with session_scope(sessions, write=True) as session:
        _, token = api_keys.create_api_key(session=session, name=name, max_concurrent_streams=max_streams)
    return token


@pytest.fixture(scope="module")
def secured(sessions: sessionmaker[Session]) -> Iterator[tuple[str, str, str]]:
    """A server with keys on; yields (url, key with the default limit of 1 stream, key allowing 2)."""
    token_default = _create_key(sessions, "default-limit")
    token_two = _create_key(sessions, "two-streams", max_streams=2)
    engines = {"slow-CustomVoice": FakeEngine(delay_s=0.02)}
    with serve_fakes(engines, api_keys=StoreApiKeys(sessions), max_streams_per_key=1) as url:
        yield url, token_default, token_two


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_without_a_key_v1_routes_the_listings_and_metrics_are_401(
    secured: tuple[str, str, str],
) -> None:
    """Issue 19: once keys exist, the Open WebUI listings and /metrics need one too (by default)."""
    url, token, _ = secured
    paths = [("POST", "/v1/audio/speech"), ("GET", "/v1/models"), ("GET", "/v1/audio/voices")]
    for method, path in [*paths, ("GET", "/v1/audio/models"), ("GET", "/metrics")]:
        response = httpx.request(method, f"{url}{path}", json=SPEECH, timeout=10)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.json()["error"]["type"] == "invalid_request_error"
    for path in ("/v1/audio/voices", "/v1/audio/models", "/metrics"):
        assert httpx.get(f"{url}{path}", headers=_auth(token), timeout=10).status_code == 200, path


def test_public_listings_and_a_metrics_token_open_what_they_name(sessions: sessionmaker[Session]) -> None:
    _create_key(sessions, "exists")
    engines = {"fake-CustomVoice": FakeEngine()}
    overrides = {"public_listings": True, "metrics_token": "scraper-secret"}
    with serve_fakes(engines, api_keys=StoreApiKeys(sessions), **overrides) as url:
        assert httpx.get(f"{url}/v1/audio/voices", timeout=10).status_code == 200
        assert httpx.get(f"{url}/v1/audio/models", timeout=10).status_code == 200
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{url}/metrics", headers=_auth("scraper-secret"), timeout=10).status_code == 200
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401


def test_a_wrong_key_is_401_through_the_sdk(secured: tuple[str, str, str]) -> None:
    url, token, _ = secured
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key=token[:-1] + "x", max_retries=0).models.list()
    assert openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0).models.list().data


def _hold_stream(url: str, token: str, started: threading.Event, release: threading.Event) -> None:
    with httpx.stream(
        "POST", f"{url}/v1/audio/speech", json=SPEECH, headers=_auth(token), timeout=30
    ) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()  # keep a reference: a dropped iterator closes the response
        next(chunks)
        started.set()
        release.wait(10)


@pytest.mark.parametrize(("key_index", "limit"), [(1, 1), (2, 2)])
def test_per_key_concurrent_streams_are_limited(
    secured: tuple[str, str, str], key_index: int, limit: int
) -> None:
    url, token = secured[0], secured[key_index]
    release = threading.Event()
    holders = []
    for _ in range(limit):
        started = threading.Event()
        holder = threading.Thread(target=_hold_stream, args=(url, token, started, release))
        holder.start()
        assert started.wait(10)
        holders.append(holder)
    try:
        refused = httpx.post(f"{url}/v1/audio/speech", json=SPEECH, headers=_auth(token), timeout=10)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert int(refused.headers["retry-after"]) >= 1
    finally:
        release.set()
        for holder in holders:
            holder.join(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the held streams finish and release their slots
        again = httpx.post(f"{url}/v1/audio/speech", json=SPEECH, headers=_auth(token), timeout=10)
        if again.status_code == 200:
            break
        time.sleep(0.05)
    assert again.status_code == 200


def test_global_queue_depth_cap_is_429() -> None:
    with serve_fakes({"slow-CustomVoice": FakeEngine(delay_s=0.02)}, max_queue_depth=1) as url:
        release, started = threading.Event(), threading.Event()

        def hold() -> None:
            with httpx.stream("POST", f"{url}/v1/audio/speech", json=SPEECH, timeout=30) as response:
                chunks = response.iter_bytes()
                next(chunks)
                started.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert started.wait(10)
            refused = httpx.post(f"{url}/v1/audio/speech", json=SPEECH, timeout=10)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "queue_full"
            assert refused.headers["retry-after"] == "2"
        finally:
            release.set()
            holder.join(10)
