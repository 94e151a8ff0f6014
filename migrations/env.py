"""Alembic environment: one set of migrations for SQLite (embedded) and Postgres (distributed).

Run through ``voice_store.db.upgrade_schema(url)`` / ``qwen3-tts db upgrade``, or ``alembic`` with alembic.ini
(``alembic -x url=postgresql+psycopg://... upgrade head``). A caller may pass an open connection in
``config.attributes["connection"]`` (tests do, to migrate inside their own transaction).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from voice_store.db import create_db_engine
from voice_store.models import Base

config = context.config
if config.config_file_name is not None:  # the `alembic` command line; the service configures its own logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata
MIGRATION_LOCK_ID = 0x71777474_73000001  # arbitrary, fixed: "qwtts" + 1


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several API replicas may run `db upgrade` at once: one migrates, the others wait, then find
            # nothing to do. The lock is released when the transaction ends.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
