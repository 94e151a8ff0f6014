"""The benchmark's measuring helpers measure what they say."""

from __future__ import annotations

import time

import torch
from torch import nn

from bench import _measure


class Sleeper:
    def nap(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def nested(self) -> None:
        self.nap(0.01)
        self.nap(0.01)


def test_stopwatch_accumulates_per_label_and_keeps_the_first_call() -> None:
    sleeper = Sleeper()
    watch = _measure.Stopwatch()
    watch.wrap(sleeper, "nap", "nap")
    assert sleeper.nap(0.05) == 0.05
    sleeper.nap(0.01)
    assert watch.calls["nap"] == 2
    assert 0.06 <= watch.seconds["nap"] < 0.5
    assert 0.05 <= watch.first["nap"] < watch.seconds["nap"]


def test_stopwatch_counts_reentrant_calls_once() -> None:
    sleeper = Sleeper()
    watch = _measure.Stopwatch()
    watch.wrap(sleeper, "nested", "outer")
    watch.wrap(sleeper, "nap", "outer")  # the same label inside: counted within the outer call only
    sleeper.nested()
    assert watch.calls["outer"] == 1
    assert 0.02 <= watch.seconds["outer"] < 0.5


def test_rss_peak_sees_a_transient_allocation() -> None:
    with _measure.RssPeak(interval_s=0.001) as rss:
        before = _measure.current_rss()
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        time.sleep(0.05)
        del block
    assert rss.peak - before >= 48 * 2**20


def test_linear_bytes_counts_linear_weights_and_biases_only() -> None:
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Embedding(100, 8), nn.Linear(4, 2, bias=False))
    assert _measure.linear_bytes([model]) == 4 * (8 * 4 + 4 + 4 * 2)
    assert _measure.linear_bytes([model.half()]) == 2 * (8 * 4 + 4 + 4 * 2)


def test_gemv_bandwidth_is_a_plausible_rate() -> None:
    rate = _measure.gemv_bandwidth(torch.float32, gib=0.0625, seconds=0.05)
    assert 1e8 < rate < 1e13  # bytes per second: between 0.1 GB/s and 10 TB/s
