"""Keyset pagination: a ``Page`` of items plus an opaque cursor for the next page.

Cursors are URL-safe base64 of a small JSON list of the last item's sort key; clients treat them as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from voice_store.errors import InvalidCursor, InvalidInputError

T = TypeVar("T")

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this is the last page


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit


def encode_cursor(key: list[str]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[str]:
    """The sort key inside ``cursor``; ``InvalidCursor`` unless it is a list of ``size`` strings."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise InvalidCursor(f"malformed cursor {cursor!r}") from e
    if not (isinstance(key, list) and len(key) == size and all(isinstance(part, str) for part in key)):
        raise InvalidCursor(f"malformed cursor {cursor!r}")
    return key
