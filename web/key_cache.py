"""A brief in-process memory of API-key lookups, so a speech request with a built-in voice does not ask the
database on every call, and a database blip does not turn every ``/v1`` request into an error.

Two kinds of entries: whether any live key exists, and each presented token's identity (or its refusal).
An entry is fresh for ``ttl_s`` (a key created or revoked elsewhere, e.g. by ``qwen3-tts keys``, is seen
within that time; ``invalidate`` drops everything at once for changes made in this process). When a refresh
fails because the database is unreachable, an entry younger than ``stale_s`` is used instead; past that the
caller's error stands (a 503). Tokens are held by their SHA-256, never in clear.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: T
    at: float


class KeyCache(Generic[T]):
    def __init__(self, *, ttl_s: float, stale_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._stale_s = stale_s
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T], *, unavailable: tuple[type[BaseException], ...]) -> T:
        """The fresh entry, else ``load()`` (remembered); ``unavailable`` errors fall back to a stale one."""
        key = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry.at < self._ttl_s:
            return entry.value
        try:
            value = load()
        except unavailable:
            if entry is not None and now - entry.at < self._stale_s:
                return entry.value
            raise
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = _Entry(value, now)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
