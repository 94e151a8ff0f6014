"""How many threads the CPU decode steps use, chosen by timing the steps themselves (``cpu_threads="auto"``).

A frame is ~1,000 short parallel regions (matrix-vector products, small elementwise kernels), each ending in a
barrier that waits for its slowest thread. When another process wants one of the cores (the API process, a
second worker, anything on a laptop), every region waits for the thread that was descheduled, so more threads
make a step slower, not faster. Measured on 2 cores (``bench/contention.py``, 0.6B shapes, ms per frame):

    busy processes   int8 x1   int8 x2   fp32 x1   fp32 x2
    0                    216       175       476       469
    1                    211       460       480       945
    2                    274      1283       739      2670

No fixed count is right for both a quiet machine and a busy one, and the load changes while a worker runs. So
the governor runs steps at its current count and, every ``probe_every`` steps, one step at another count; if
that step is at least ``margin`` faster than the best recent step at the current count with as many live rows,
the other count becomes current. Each probe costs at most one slower step in ``probe_every``. Thread counts do
not change what a step computes beyond float rounding (the products split their output rows across threads).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

import torch

log = logging.getLogger(__name__)


def thread_choices(threads: int) -> list[int]:
    """The counts the governor tries for a process allowed ``threads``: all of them, half, one."""
    return sorted({threads, max(threads // 2, 1), 1}, reverse=True)


class ThreadGovernor:
    """Times each step at the current thread count and probes the others now and then (not thread-safe:
    the batch calls it under its lock)."""

    def __init__(
        self,
        choices: Sequence[int],
        *,
        probe_every: int = 24,
        margin: float = 0.1,
        recent: int = 3,
        clock: Callable[[], float] = time.perf_counter,
        set_threads: Callable[[int], None] = torch.set_num_threads,
    ) -> None:
        if not choices or min(choices) < 1:
            raise ValueError(f"thread choices must be positive, got {list(choices)}")
        self.choices = sorted(set(choices), reverse=True)
        self.current = self.choices[0]
        self.probe_every, self.margin = probe_every, margin
        self._clock, self._set_threads = clock, set_threads
        self._recent: deque[tuple[int, float]] = deque(maxlen=recent)  # (rows, seconds) at the current count
        self._since_probe = 0
        self._next_alternative = 0
        self._set_threads(self.current)

    def run(self, rows: int, step: Callable[[], None]) -> None:
        """Runs ``step`` (a decode step over ``rows`` live rows), timed, at the current count or a probe's."""
        probe = self._probe_count()
        if probe is not None:
            self._set_threads(probe)
        start = self._clock()
        try:
            step()
        finally:
            elapsed = self._clock() - start
            if probe is not None:
                self._set_threads(self.current)
        if probe is None:
            self._recent.append((rows, elapsed))
            return
        best = min((s for r, s in self._recent if r == rows), default=None)
        if best is not None and elapsed < best * (1 - self.margin):
            log.info("decode steps: %d threads (%.0f ms vs %.0f ms at %d)", probe, 1e3 * elapsed, 1e3 * best,
                     self.current)  # fmt: skip
            self.current = probe
            self._set_threads(probe)
            self._recent.clear()

    def _probe_count(self) -> int | None:
        alternatives = [c for c in self.choices if c != self.current]
        if not alternatives:
            return None
        self._since_probe += 1
        if self._since_probe < self.probe_every or not self._recent:
            return None
        self._since_probe = 0
        self._next_alternative = (self._next_alternative + 1) % len(alternatives)
        return alternatives[self._next_alternative]


def cpu_thread_governor(device: torch.device, cpu_threads: int | str) -> ThreadGovernor | None:
    """``cpu_threads``: ``"auto"`` (a governor over ``thread_choices`` of torch's count) or a fixed count
    (set now, no governor). None off the CPU, or when there is nothing to choose."""
    if cpu_threads != "auto" and not (isinstance(cpu_threads, int) and cpu_threads >= 1):
        raise ValueError(f"cpu_threads must be 'auto' or a positive thread count, got {cpu_threads!r}")
    if device.type != "cpu":
        return None
    if cpu_threads != "auto":
        torch.set_num_threads(cpu_threads)
        return None
    choices = thread_choices(torch.get_num_threads())
    return ThreadGovernor(choices) if len(choices) > 1 else None
