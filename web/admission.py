"""Admission control: a per-key limit on concurrent speech streams and a global queue-depth cap (→ 429)."""

from __future__ import annotations

from collections import Counter

from common.errors import RateLimited
from web.auth import KeyIdentity


class Ticket:
    """One admitted request; ``release`` (idempotent) when its response is finished."""

    def __init__(self, admission: Admission, key_id: str | None) -> None:
        self._admission = admission
        self._key_id = key_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release(self._key_id)


class Admission:
    """Lives on the event loop (single-threaded), so plain counters are enough."""

    def __init__(self, *, max_streams_per_key: int, max_queue_depth: int, retry_after_s: int) -> None:
        self._max_per_key = max_streams_per_key
        self._max_depth = max_queue_depth
        self._retry_after = retry_after_s
        self._per_key: Counter[str] = Counter()

    def admit(self, key: KeyIdentity | None, *, queue_depth: int) -> Ticket:
        """Anonymous requests (no keys configured) are bounded by the queue-depth cap only."""
        if queue_depth >= self._max_depth:
            raise RateLimited(
                f"the server is busy ({queue_depth} requests queued); retry later",
                retry_after_s=self._retry_after,
                code="queue_full",
            )
        if key is None:
            return Ticket(self, None)
        limit = key.max_concurrent_streams or self._max_per_key
        if self._per_key[key.id] >= limit:
            raise RateLimited(
                f"this API key already has {limit} concurrent speech streams",
                retry_after_s=self._retry_after,
                code="too_many_streams",
            )
        self._per_key[key.id] += 1
        return Ticket(self, key.id)

    def _release(self, key_id: str | None) -> None:
        if key_id is not None:
            self._per_key[key_id] -= 1
            if self._per_key[key_id] <= 0:
                del self._per_key[key_id]
