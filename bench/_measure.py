"""Measuring helpers shared by both sides of bench/engine.py (ours, and the official package in its own venv).

Standard library and torch only: the official side loads this file by path in the reference virtualenv.
"""

from __future__ import annotations

import functools
import os
import resource
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import torch
from torch import nn


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall time per label, accumulated over calls of wrapped methods. ``sync`` runs before every reading
    (a CUDA synchronize on a GPU: the split is then exact but the run a little slower)."""

    def __init__(self, sync: Callable[[], None] = lambda: None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first: dict[str, float] = {}  # the first call's time (a prefill, where the label has one)
        self.sync = sync
        self._depth: dict[str, int] = defaultdict(int)
        self._wrapped: list[tuple[object, str, dict]] = []  # (owner, name, what its __dict__ held before)

    def wrap(self, owner: object, name: str, label: str) -> None:
        """Times ``owner.name(...)`` under ``label`` (re-entrant calls count once)."""
        inner = getattr(owner, name)
        self._wrapped.append((owner, name, {k: v for k, v in vars(owner).items() if k == name}))

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            self._depth[label] += 1
            if self._depth[label] > 1:
                try:
                    return inner(*args, **kwargs)
                finally:
                    self._depth[label] -= 1
            self.sync()
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.sync()
                elapsed = time.perf_counter() - start
                self.seconds[label] += elapsed
                self.first.setdefault(label, elapsed)
                self.calls[label] += 1
                self._depth[label] -= 1

        setattr(owner, name, timed)

    def restore(self) -> None:
        """Undoes every ``wrap``, latest first: a wrapped method is the class's again, a wrapped instance
        attribute (a callable set on the object) its previous value."""
        while self._wrapped:
            owner, name, before = self._wrapped.pop()
            vars(owner).pop(name, None)
            vars(owner).update(before)

    def wrap_modules(self, modules: Iterable[nn.Module], label: str) -> None:
        for module in modules:
            self.wrap(module, "forward", label)


def current_rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """High-water mark of the resident set size of this process, bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssPeak:
    """The highest RSS seen while the block runs (sampled every ``interval_s`` by a thread)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval_s)

    def __enter__(self) -> RssPeak:
        self.peak = current_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


def gemv_bandwidth(
    dtype: torch.dtype, device: torch.device | str = "cpu", gib: float = 0.5, seconds: float = 2.0
) -> float:
    """Bytes per second a large matrix-vector product streams (weights of ``gib`` GiB, far beyond caches):
    the memory-bandwidth ceiling of a decode step on this machine with the current thread count."""
    rows = 8192
    cols = int(gib * 2**30 / (rows * torch.finfo(dtype).bits // 8))
    weight = torch.randn(rows, cols, device=device).to(dtype)
    x = torch.randn(cols, 1, device=device).to(dtype)
    with torch.inference_mode():
        for _ in range(2):
            weight @ x
        synchronize(device)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or count < 3:
            weight @ x
            count += 1
        synchronize(device)
        elapsed = time.perf_counter() - start
    return count * weight.numel() * weight.element_size() / elapsed


def linear_bytes(modules: Iterable[nn.Module]) -> int:
    """Bytes of the weights (and biases) of the nn.Linear layers under ``modules``: what a one-token step
    must stream from memory."""
    total = 0
    for root in modules:
        for m in root.modules():
            if isinstance(m, nn.Linear):
                total += sum(p.numel() * p.element_size() for p in m.parameters(recurse=False))
            elif callable(getattr(m, "nbytes", None)):  # qwen_tts.quant.QuantizedLinear
                total += m.nbytes()
    return total
