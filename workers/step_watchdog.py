"""The hard time limit of the engine host: a step that blocks too long ends the process.

In a Celery worker child, a stream task hands its request to the engine host and returns, so Celery's hard
time limit (the parent kills a child whose *task* runs too long) no longer covers the synthesis. This
watchdog does instead: the host marks each step it runs (``watch``), a thread checks the mark, and a step
still running after ``limit_s`` calls ``on_stuck`` — by default ``os._exit``, after a log line, so the parent
replaces the child exactly as it does after a hard-limit kill. A hung step cannot be interrupted from Python
(it may sit in a CUDA call), which is why the answer is the process, not an exception.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

STUCK_EXIT_CODE = 70  # EX_SOFTWARE


def exit_process() -> None:
    logging.shutdown()
    os._exit(STUCK_EXIT_CODE)


class StepWatchdog:
    def __init__(self, limit_s: float, *, on_stuck: Callable[[], None] = exit_process) -> None:
        self._limit_s = limit_s
        self._on_stuck = on_stuck
        self._lock = threading.Lock()
        self._step: tuple[str, float] | None = None  # (what, monotonic start) of the step running now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-watchdog", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @contextmanager
    def watch(self, what: str) -> Iterator[None]:
        """Mark one step (``what`` names it in the log) as running for the body's duration."""
        with self._lock:
            self._step = (what, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                self._step = None

    def _run(self) -> None:
        period = min(1.0, self._limit_s / 4)
        while not self._stop.wait(period):
            with self._lock:
                step = self._step
            if step is None or (elapsed := time.monotonic() - step[1]) <= self._limit_s:
                continue
            log.critical(
                "engine step for %s has run %.0f s, past the hard time limit (%g s): ending this process",
                step[0],
                elapsed,
                self._limit_s,
            )
            self._stop.set()
            self._on_stuck()
