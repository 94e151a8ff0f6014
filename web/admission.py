"""Admission control (→ 429 at once, with Retry-After): a per-key limit on concurrent speech streams, a
global queue-depth cap, and the queue wait allowed.

The wait: the engines behind the dispatcher decode ``rows`` requests at once (the workers' heartbeats in
the distributed mode, ``optimization.max_batch_size`` embedded). A request beyond them waits for rows to
free; with ``queue_depth`` requests in flight, the next one waits about ``(queue_depth + 1 - rows) / rows``
request times, the request time being a running mean of how long admitted requests held their ticket
(``initial_request_s`` until one finished). Past ``max_queue_wait_s`` the request is refused now rather than
answered 503 after a long wait. The realtime WebSocket admits through the same ``admit``.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from common.errors import RateLimited
from web.auth import KeyIdentity

INITIAL_REQUEST_S = 5.0
_SMOOTHING = 0.2  # weight of the newest request time in the running mean
_MAX_RETRY_AFTER_S = 60


class Ticket:
    """One admitted request; ``release`` (idempotent) when its response is finished."""

    def __init__(self, admission: Admission, key_id: str | None) -> None:
        self._admission = admission
        self._key_id = key_id
        self._released = False
        self._admitted_at = time.monotonic()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release(self._key_id, time.monotonic() - self._admitted_at)


class Admission:
    """Lives on the event loop (single-threaded), so plain counters are enough."""

    def __init__(
        self,
        *,
        max_streams_per_key: int,
        max_queue_depth: int,
        retry_after_s: int,
        max_queue_wait_s: float | None = None,
        initial_request_s: float = INITIAL_REQUEST_S,
    ) -> None:
        """``max_queue_wait_s=None``: no wait bound (the queue-depth cap alone)."""
        self._max_per_key = max_streams_per_key
        self._max_depth = max_queue_depth
        self._retry_after = retry_after_s
        self._max_wait_s = max_queue_wait_s
        self._request_s = initial_request_s
        self._per_key: Counter[str] = Counter()

    def expected_wait_s(self, *, queue_depth: int, rows: int | None) -> float:
        """Seconds a request admitted now would wait for a row (0 while rows are free; unknown rows: 0)."""
        if not rows:
            return 0.0
        return max(0, queue_depth + 1 - rows) / rows * self._request_s

    def admit(self, key: KeyIdentity | None, *, queue_depth: int, rows: int | None = None) -> Ticket:
        """Anonymous requests (no keys configured) are bounded by the queue caps only. ``rows``: decode rows
        of the engines now (``Dispatcher.rows``); ``None`` skips the wait bound."""
        if queue_depth >= self._max_depth:
            raise RateLimited(
                f"the server is busy ({queue_depth} requests queued); retry later",
                retry_after_s=self._retry_after,
                code="queue_full",
            )
        wait = self.expected_wait_s(queue_depth=queue_depth, rows=rows)
        if self._max_wait_s is not None and wait > self._max_wait_s:
            raise RateLimited(
                f"the server is busy: {queue_depth} requests in flight for {rows} decode rows, about "
                f"{wait:.0f} s of queue (the limit is {self._max_wait_s:g} s); retry later",
                retry_after_s=min(_MAX_RETRY_AFTER_S, max(self._retry_after, math.ceil(wait))),
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

    def _release(self, key_id: str | None, held_s: float) -> None:
        self._request_s += _SMOOTHING * (held_s - self._request_s)
        if key_id is not None:
            self._per_key[key_id] -= 1
            if self._per_key[key_id] <= 0:
                del self._per_key[key_id]
