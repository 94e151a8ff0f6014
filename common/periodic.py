"""Beats from a daemon thread while a block runs: what renews a lease its holder keeps while it works (a
stream's heartbeat key, a segment's claim)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def beating(beat: Callable[[], bool], *, period_s: float, name: str) -> Iterator[None]:
    """Call ``beat`` every ``period_s`` from a daemon thread named ``name`` while the body runs; the beats
    stop when the body ends (a beat in progress is waited for) or when ``beat`` returns False (what it renews
    is no longer its own). ``beat`` handles its own errors: a failed one is simply tried at the next tick."""
    stop = threading.Event()

    def beats() -> None:
        while not stop.wait(period_s) and beat():
            pass

    thread = threading.Thread(target=beats, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=period_s + 1)
