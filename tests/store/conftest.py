"""Contract-test fixtures: every test using ``session`` or ``database_url`` runs on SQLite and on Postgres;
every test using ``blob_store`` runs on ``LocalBlobStore`` and on ``S3BlobStore`` against a moto server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.fixtures.database import transactional_session
from tests.fixtures.postgres import migrated_postgres_url, postgres_url  # noqa: F401
from tests.fixtures.s3_server import MotoServer, moto_server, s3_bucket  # noqa: F401
from voice_store.blobs import BlobStore, LocalBlobStore, S3BlobStore
from voice_store.db import create_db_engine, sqlite_url, upgrade_schema

DATABASES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def migrated_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = sqlite_url(tmp_path_factory.mktemp("db") / "store.sqlite3")
    upgrade_schema(url)
    return url


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database shared by the session (tests must not depend on it being empty)."""
    return request.getfixturevalue(f"migrated_{request.param}_url")


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def engine(database_url: str, _engines: dict[str, Engine]) -> Engine:
    if database_url not in _engines:
        _engines[database_url] = create_db_engine(database_url)
    return _engines[database_url]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the parametrized database whose work is rolled back after the test."""
    with transactional_session(engine) as session:
        yield session


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server: MotoServer = request.getfixturevalue("moto_server")
    return S3BlobStore(
        bucket=request.getfixturevalue("s3_bucket"),
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
