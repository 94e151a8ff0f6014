"""Migrations on both databases: up, down, up again; and the models agree with the migrations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

from tests.fixtures.postgres import admin_url, check_reachable, temporary_database
from voice_store.db import (
    check_schema_current,
    create_db_engine,
    current_revision,
    downgrade_schema,
    head_revision,
    sqlite_url,
    upgrade_schema,
)
from voice_store.errors import SchemaError
from voice_store.models import Base

TABLES = {
    "api_keys",
    "voices",
    "voice_clone_prompts",
    "jobs",
    "job_events",
    "voice_consents",
    "job_segments",
    "webhook_endpoints",
    "webhook_events",
}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "fresh.sqlite3")
        return
    check_reachable(admin_url())
    with temporary_database(admin_url(), prefix="qtts_migration") as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    engine = create_db_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(SchemaError, match="qwen3-tts db upgrade"):
            check_schema_current(engine)

        upgrade_schema(empty_database_url)
        assert current_revision(engine) == head_revision()
        assert _tables(empty_database_url) == TABLES
        check_schema_current(engine)
        upgrade_schema(empty_database_url)  # idempotent

        downgrade_schema(empty_database_url, revision="base")
        assert current_revision(engine) is None
        assert _tables(empty_database_url) == set()

        upgrade_schema(empty_database_url)
        assert _tables(empty_database_url) == TABLES
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to do: a model change without a migration fails this test."""
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_models_and_migrations_check_detects_drift(database_url: str) -> None:
    """Control for the test above: a column the migrations lack shows up in the diff."""
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["voices"].append_column(Column("accent", Integer))
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), drifted)
    finally:
        engine.dispose()
    assert [(op[0], op[2], op[3].name) for op in diff] == [("add_column", "voices", "accent")]


def test_upgrade_to_unknown_revision_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError):
        upgrade_schema(sqlite_url(tmp_path / "x.sqlite3"), revision="does-not-exist")


def test_concurrent_upgrades_on_postgres_are_serialized() -> None:
    """Several replicas running `db upgrade` at once (separate processes): all succeed, one migrates."""
    check_reachable(admin_url())
    script = "import sys; from voice_store.db import upgrade_schema; upgrade_schema(sys.argv[1])"
    with temporary_database(admin_url(), prefix="qtts_concurrent") as url:
        processes = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        failures = []
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append(stderr[-2000:])
        assert failures == []
        assert _tables(url) == TABLES
        engine = create_db_engine(url)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()
