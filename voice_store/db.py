"""Database engine, sessions and schema upgrades.

Usage::

    engine = create_db_engine("sqlite:////var/lib/qwen3-tts/store.sqlite3")   # or "postgresql+psycopg://..."
    upgrade_schema(url="sqlite:////var/lib/qwen3-tts/store.sqlite3")         # Alembic "upgrade head"
    sessions = create_session_factory(engine)
    with session_scope(sessions) as session:          # commits on success, rolls back on error
        voice = voices.get_voice(session=session, voice_id=...)
    with session_scope(sessions, write=True) as session:   # read-then-write unit of work
        ...

SQLite connections get WAL journaling, ``foreign_keys=ON``, a busy timeout and ``synchronous=NORMAL``.
pysqlite's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so SAVEPOINTs work.
With ``write=True`` the transaction starts with ``BEGIN IMMEDIATE``: it takes SQLite's write lock up front
(waiting up to the busy timeout) instead of failing with "database is locked" when a read transaction later
tries to write after another writer committed. On Postgres ``write`` changes nothing (row locks do that job).
Keep sessions short: never hold one open while streaming audio.

Alembic migrations are the only way the schema is created (``upgrade_schema``), in both run modes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from voice_store.errors import InvalidInputError, SchemaError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
_SQLITE_BEGIN_OPTION = "voice_store_sqlite_begin"
DATABASE_UNAVAILABLE: tuple[type[SQLAlchemyError], ...] = (OperationalError, InterfaceError, PoolTimeoutError)
"""The database cannot be reached (down, restarting, connections exhausted): a 503 to retry, not a bug."""


def parse_database_url(url: str | URL) -> URL:
    """Parse and check a database URL; only SQLite and Postgres (psycopg 3) are supported."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise InvalidInputError(f"malformed database URL: {e}") from e
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///PATH or postgresql+psycopg://..."
        )
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            return parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise InvalidInputError(
                f"unsupported Postgres driver {parsed.drivername!r}: use postgresql+psycopg://"
            )
    return parsed


def sqlite_url(path: str | Path) -> str:
    """The SQLite URL of a database file (created on first use, its parent directory too)."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def create_db_engine(url: str | URL, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """An engine for ``url`` configured for this service (see the module docstring)."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidInputError(
                "SQLite needs a database file path (an in-memory database is per connection)"
            )
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S
        },  # an unreachable server fails, not hangs
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (handy for returning records to the web layer)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception (which propagates)."""
    with factory() as session:
        if write:
            session.connection(execution_options={_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | URL) -> Config:
    """An Alembic ``Config`` for our migrations, independent of the working directory and of alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on "%" in passwords.
    rendered = parse_database_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade_schema(url: str | URL, *, revision: str = "head") -> bool:
    """Bring the database at ``url`` to ``revision`` (idempotent; run at embedded start and on deploy).

    Returns whether it upgraded anything; a database already there is left alone, and nothing is logged."""
    try:
        engine = create_db_engine(url)
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
        target = head_revision() if revision == "head" else revision
        if current == target:
            return False
        logger.info("upgrading database schema from %s to %s", current or "empty", target)
        command.upgrade(alembic_config(url), revision)
    except (SQLAlchemyError, CommandError) as e:
        raise SchemaError(f"database schema upgrade to {revision!r} failed: {e}") from e
    return True


def downgrade_schema(url: str | URL, *, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` (``"base"`` drops every table)."""
    logger.info("downgrading database schema to %s", revision)
    try:
        command.downgrade(alembic_config(url), revision)
    except (SQLAlchemyError, CommandError) as e:
        raise SchemaError(f"database schema downgrade to {revision!r} failed: {e}") from e


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise SchemaError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema_current(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the database is at the head revision (for readiness checks)."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaError(f"database schema is at {current!r}, expected {head!r}: run `qwen3-tts db upgrade`")
