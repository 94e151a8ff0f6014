"""The queue-wait bound (issue 19): a request that would wait past ``max_queue_wait_s`` for a decode row is
refused at once with 429 and a Retry-After near the expected wait; one that fits is admitted."""

from __future__ import annotations

from collections import deque

import pytest

from common.errors import RateLimited
from web.admission import Admission


def _admission(**overrides: object) -> Admission:
    values = {"max_queue_wait_s": 10.0, "initial_request_s": 4.0} | overrides
    return Admission(max_streams_per_key=4, max_queue_depth=1000, retry_after_s=2, **values)


def test_requests_within_the_rows_and_the_wait_are_admitted_and_beyond_it_refused() -> None:
    admission = _admission()
    # 8 rows, 4 s per request: the 9th..28th wait up to 20 × 4 / 8 = 10 s; the 29th would wait 10.5 s
    assert admission.expected_wait_s(queue_depth=7, rows=8) == 0.0
    admission.admit(None, queue_depth=27, rows=8)
    with pytest.raises(RateLimited) as refused:
        admission.admit(None, queue_depth=28, rows=8)
    assert refused.value.code == "queue_full" and refused.value.retry_after_s == 11
    assert "8 decode rows" in refused.value.message


def test_the_request_time_follows_what_admitted_requests_took() -> None:
    admission = _admission(initial_request_s=100.0)
    with pytest.raises(RateLimited):
        admission.admit(None, queue_depth=8, rows=8)  # 1/8 × 100 s
    for _ in range(30):  # requests that take no time at all
        admission.admit(None, queue_depth=0, rows=8).release()
    admission.admit(None, queue_depth=8, rows=8)


def test_without_a_wait_bound_or_rows_only_the_depth_cap_applies() -> None:
    Admission(max_streams_per_key=4, max_queue_depth=100, retry_after_s=2).admit(None, queue_depth=99, rows=1)
    _admission().admit(None, queue_depth=99, rows=None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_that_waited_for_a_row_teach_their_service_time_not_their_wait() -> None:
    """2 rows, 4 s per request, 7 requests in flight (5 queued): each holds its ticket 14 s, 10 of them
    waiting. The next one, 5 ahead of it, waits 5 / 2 × 4 = 10 s: within the bound, so it is admitted."""
    clock = FakeClock()
    admission = _admission(clock=clock)
    tickets = deque(admission.admit(None, queue_depth=depth, rows=2) for depth in range(7))
    for _ in range(40):  # a row frees every 2 s, and its place in the queue is taken at once
        clock.now += 2.0
        tickets.popleft().release()
        tickets.append(admission.admit(None, queue_depth=len(tickets), rows=2))
    assert admission.expected_wait_s(queue_depth=6, rows=2) == pytest.approx(10.0, rel=0.05)
    admission.admit(None, queue_depth=6, rows=2)


def test_requests_running_long_raise_the_estimate_before_they_finish() -> None:
    """Quick requests taught 2 s; then the engines slow down: 4 rows busy for 30 s and none finished. A
    request with 3 ahead of it is refused now, not admitted at the stale 3 / 4 × 2 s."""
    clock = FakeClock()
    admission = _admission(initial_request_s=2.0, clock=clock)
    for _ in range(10):
        ticket = admission.admit(None, queue_depth=0, rows=4)
        clock.now += 2.0
        ticket.release()
    assert admission.expected_wait_s(queue_depth=5, rows=4) == pytest.approx(1.0, rel=0.05)
    running = [admission.admit(None, queue_depth=depth, rows=4) for depth in range(4)]
    clock.now += 30.0
    assert admission.expected_wait_s(queue_depth=6, rows=4) > 10.0
    with pytest.raises(RateLimited):
        admission.admit(None, queue_depth=6, rows=4)
    for ticket in running:
        ticket.release()


def test_a_long_realtime_session_does_not_count_as_a_slow_request() -> None:
    """A WebSocket session holds its ticket for minutes, mostly idle: it says nothing of the decode time."""
    clock = FakeClock()
    admission = _admission(initial_request_s=2.0, clock=clock)
    session = admission.admit(None, queue_depth=0, rows=8, timed=False)
    clock.now += 600.0
    session.release()
    admission.admit(None, queue_depth=8, rows=8)  # 1/8 × 2 s, as before the session
