"""The queue-wait bound (issue 19): a request that would wait past ``max_queue_wait_s`` for a decode row is
refused at once with 429 and a Retry-After near the expected wait; one that fits is admitted."""

from __future__ import annotations

import pytest

from common.errors import RateLimited
from web.admission import Admission


def _admission(**overrides: float) -> Admission:
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
