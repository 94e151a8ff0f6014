"""API-key repository.

API (keyword-only; functions flush but never commit)::

    record, token = create_api_key(session=s, name="ci", max_concurrent_streams=4)  # token shown once
    record = verify_api_key(session=s, token="qtts_...")   # InvalidApiKey (401) for anything but a live key
    record = revoke_api_key(session=s, key_id=...)         # idempotent; ApiKeyNotFound
    keys = list_api_keys(session=s, include_revoked=False)
    if has_active_api_keys(session=s): ...                 # auth is on when at least one live key exists

A token is ``qtts_<12-char lookup id>_<43-char secret>`` (256 random bits in the secret). Only the SHA-256 of
the whole token is stored; a slow password hash adds nothing against a 256-bit random secret. The public
``prefix`` (``qtts_<lookup id>``) finds the row and is safe to display; the hash comparison is constant-time.
``last_used_at`` is written at most once per ``touch_interval`` (so verifying is rarely a write), and that
write is skipped rather than failing the request when SQLite is busy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from voice_store.errors import ApiKeyNotFound, InvalidApiKey, InvalidInputError
from voice_store.models.api_keys import ApiKey
from voice_store.models.base import new_id, utcnow

logger = logging.getLogger(__name__)

TOKEN_SCHEME = "qtts_"
_LOOKUP_LENGTH = 12
_SECRET_BYTES = 32
_SECRET_LENGTH = 43  # unpadded urlsafe base64 of 32 bytes
_TOKEN_LENGTH = len(TOKEN_SCHEME) + _LOOKUP_LENGTH + 1 + _SECRET_LENGTH
_LOOKUP_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
DEFAULT_TOUCH_INTERVAL = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    """``(prefix, token)`` for a fresh key."""
    lookup = "".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(_LOOKUP_LENGTH))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(_SECRET_BYTES)).decode().rstrip("=")
    prefix = f"{TOKEN_SCHEME}{lookup}"
    return prefix, f"{prefix}_{secret}"


def _prefix_of(token: str) -> str | None:
    """The lookup prefix of a well-formed token, else None."""
    if len(token) != _TOKEN_LENGTH or not token.startswith(TOKEN_SCHEME):
        return None
    prefix_length = len(TOKEN_SCHEME) + _LOOKUP_LENGTH
    if token[prefix_length] != "_" or not all(
        c in _LOOKUP_ALPHABET for c in token[len(TOKEN_SCHEME) : prefix_length]
    ):
        return None
    return token[:prefix_length]


def create_api_key(
    *,
    session: Session,
    name: str,
    max_concurrent_streams: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext token, which is not stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInputError("API key name must be 1 to 100 characters")
    if max_concurrent_streams is not None and max_concurrent_streams < 1:
        raise InvalidInputError("max_concurrent_streams must be at least 1 (or None for the server default)")
    prefix, token = _new_token()
    record = ApiKey(
        id=new_id("key"),
        name=name,
        prefix=prefix,
        secret_hash=hash_token(token),
        max_concurrent_streams=max_concurrent_streams,
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return record, token


def verify_api_key(
    *,
    session: Session,
    token: str,
    now: datetime | None = None,
    touch_interval: timedelta = DEFAULT_TOUCH_INTERVAL,
) -> ApiKey:
    """The live key ``token`` belongs to; ``InvalidApiKey`` if malformed, unknown, revoked or expired."""
    now = now or utcnow()
    prefix = _prefix_of(token)
    if prefix is None:
        raise InvalidApiKey()
    record = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if record is None or not hmac.compare_digest(record.secret_hash, hash_token(token)):
        raise InvalidApiKey()
    if not record.is_active(now):
        raise InvalidApiKey()
    if record.last_used_at is None or now - record.last_used_at >= touch_interval:
        _touch(session, record, now)
    return record


def _touch(session: Session, record: ApiKey, now: datetime) -> None:
    """Record the use, best effort: on SQLite a busy database skips the write instead of failing the request.

    Verifying runs in a read transaction; in WAL mode its upgrade to a write fails at once (SQLITE_BUSY) when
    another connection wrote meanwhile. Losing one ``last_used_at`` update beats refusing a valid key.
    """
    try:
        with session.begin_nested():
            record.last_used_at = now
            session.flush()
    except OperationalError as e:
        if not _is_sqlite_busy(e):
            raise
        logger.debug("skipped the last_used_at update of API key %s: database busy", record.id)


def _is_sqlite_busy(error: OperationalError) -> bool:
    name = str(getattr(error.orig, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(error.orig)


def get_api_key(*, session: Session, key_id: str) -> ApiKey:
    record = session.get(ApiKey, key_id)
    if record is None:
        raise ApiKeyNotFound(key_id)
    return record


def revoke_api_key(*, session: Session, key_id: str, now: datetime | None = None) -> ApiKey:
    """Revoke a key (revoking twice keeps the first time)."""
    record = get_api_key(session=session, key_id=key_id)
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
        session.flush()
    return record


def list_api_keys(*, session: Session, include_revoked: bool = False) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(statement))


def has_active_api_keys(*, session: Session, now: datetime | None = None) -> bool:
    now = now or utcnow()
    active = select(ApiKey.id).where(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )
    return bool(session.scalar(select(exists(active))))
