"""Declarative base, shared column types and id generation for every table.

- ``Base``: the declarative base; its ``MetaData`` carries a naming convention so that every constraint has a
  stable name (needed by Alembic batch migrations on SQLite and by readable migration diffs).
- ``UTCDateTime``: timezone-aware UTC datetimes on both SQLite (which stores naive text) and Postgres
  (``timestamptz``). Naive datetimes are refused instead of being silently guessed.
- ``new_id(prefix)``: public ids such as ``voice_01jdq...``: 48-bit millisecond timestamp + 80 random bits in
  Crockford base32, so ids sort by creation time and serve as keyset-pagination cursors.
"""

from __future__ import annotations

import enum
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 40  # prefix (<= 13 chars incl. "_") + 26 base32 chars, with room to spare
BLOB_KEY_LENGTH = 512

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def string_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A portable enum column type: VARCHAR + CHECK constraint on the values (no native Postgres type)."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_id_lock = threading.Lock()
_last_id_value = 0


def new_id(prefix: str) -> str:
    """A time-ordered unique id: ``f"{prefix}_"`` + 26 Crockford-base32 chars (ULID layout).

    Within one process ids are strictly increasing, even within one millisecond (monotonic ULID).
    """
    global _last_id_value
    candidate = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    with _id_lock:
        value = _last_id_value = max(candidate, _last_id_value + 1)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always returns aware UTC datetimes and refuses naive input."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(timezone.utc)
        # SQLite has no timezone type: store naive UTC text, which also sorts chronologically.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
