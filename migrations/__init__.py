"""Alembic migrations: the only way the schema is created (``voice_store.db.upgrade_schema``)."""
