"""Admission control (→ 429 at once, with Retry-After): a per-key limit on concurrent speech streams, a
global queue-depth cap, and the queue wait allowed.

The wait: the engines behind the dispatcher decode ``rows`` requests at once (the workers' heartbeats in
the distributed mode, ``optimization.max_batch_size`` embedded). A request beyond them waits for rows to
free; with ``queue_depth`` requests in flight, the next one waits about ``(queue_depth + 1 - rows) / rows``
request times. Past ``max_queue_wait_s`` the request is refused now rather than answered 503 after a long
wait. The realtime WebSocket admits through the same ``admit`` (untimed: a session says nothing of the
decode time).

The request time is what a request costs a row, not how long it held its ticket (that includes its own
wait): the row-seconds the admitted requests occupied (``min(in flight, rows)`` over time) per request that
finished, over the last ``1 / _SMOOTHING`` or so requests. Under a queue that is ``rows`` divided by the
measured completion rate; with free rows, the mean service time. The row-seconds of the requests still
running count at once, so an engine that slows down under load raises the estimate before its slow
requests finish (``initial_request_s`` stands for one finished request until real ones do).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

from common.errors import RateLimited
from web.auth import KeyIdentity

INITIAL_REQUEST_S = 5.0
_SMOOTHING = 0.1  # per finished request: the weight the older ones lose
_MAX_RETRY_AFTER_S = 60


class RequestTime:
    """Row-seconds occupied per finished request, decayed per request; the open row-seconds included."""

    def __init__(self, initial_s: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._row_s = initial_s  # one pseudo-request of initial_s
        self._finished = 1.0
        self._open_row_s = 0.0  # occupied since the last finished request
        self._live = 0
        self._rows: int | None = None
        self._at = clock()

    def _advance(self) -> None:
        now = self._clock()
        occupied = self._live if self._rows is None else min(self._live, self._rows)
        self._open_row_s += occupied * max(0.0, now - self._at)
        self._at = now

    def started(self, rows: int | None) -> None:
        self._advance()
        self._live += 1
        self._rows = rows

    def finished(self) -> None:
        self._advance()
        self._live -= 1
        self._row_s = self._row_s * (1 - _SMOOTHING) + self._open_row_s
        self._finished = self._finished * (1 - _SMOOTHING) + 1
        self._open_row_s = 0.0

    def seconds(self) -> float:
        self._advance()
        return (self._row_s + self._open_row_s) / self._finished


class Ticket:
    """One admitted request; ``release`` (idempotent) when its response is finished."""

    def __init__(self, admission: Admission, key_id: str | None, *, timed: bool) -> None:
        self._admission = admission
        self._key_id = key_id
        self._timed = timed
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release(self._key_id, timed=self._timed)


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``max_queue_wait_s=None``: no wait bound (the queue-depth cap alone)."""
        self._max_per_key = max_streams_per_key
        self._max_depth = max_queue_depth
        self._retry_after = retry_after_s
        self._max_wait_s = max_queue_wait_s
        self._request_time = RequestTime(initial_request_s, clock)
        self._per_key: Counter[str] = Counter()

    def expected_wait_s(self, *, queue_depth: int, rows: int | None) -> float:
        """Seconds a request admitted now would wait for a row (0 while rows are free; unknown rows: 0)."""
        if not rows:
            return 0.0
        return max(0, queue_depth + 1 - rows) / rows * self._request_time.seconds()

    def admit(
        self, key: KeyIdentity | None, *, queue_depth: int, rows: int | None = None, timed: bool = True
    ) -> Ticket:
        """Anonymous requests (no keys configured) are bounded by the queue caps only. ``rows``: decode rows
        of the engines now (``Dispatcher.rows``); ``None`` skips the wait bound. ``timed=False``: a ticket
        held for longer than its decoding (a realtime session), left out of the request time."""
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
        if key is not None:
            limit = key.max_concurrent_streams or self._max_per_key
            if self._per_key[key.id] >= limit:
                raise RateLimited(
                    f"this API key already has {limit} concurrent speech streams",
                    retry_after_s=self._retry_after,
                    code="too_many_streams",
                )
            self._per_key[key.id] += 1
        if timed:
            self._request_time.started(rows)
        return Ticket(self, None if key is None else key.id, timed=timed)

    def _release(self, key_id: str | None, *, timed: bool) -> None:
        if timed:
            self._request_time.finished()
        if key_id is not None:
            self._per_key[key_id] -= 1
            if self._per_key[key_id] <= 0:
                del self._per_key[key_id]
