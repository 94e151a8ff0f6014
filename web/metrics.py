"""Prometheus metrics of one app instance (its own registry: no process-global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
_RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tts_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.time_to_first_audio = Histogram(
            "tts_time_to_first_audio_seconds",
            "from request arrival to the first audio bytes handed to the server",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.real_time_factor = Histogram(
            "tts_real_time_factor",
            "synthesis wall time / audio duration, per completed request",
            buckets=_RTF_BUCKETS,
            registry=self.registry,
        )
        self.audio_seconds = Counter("tts_audio_seconds", "audio generated", registry=self.registry)
        self.queue_depth = Gauge(
            "tts_queue_depth", "synthesis jobs running or waiting", registry=self.registry
        )
        self.queue_depth.set_function(queue_depth)
        self.realtime_sessions = Counter(
            "tts_realtime_sessions", "WebSocket speech sessions accepted", registry=self.registry
        )
        self.realtime_active_sessions = Gauge(
            "tts_realtime_active_sessions", "WebSocket speech sessions open now", registry=self.registry
        )
        self.realtime_turns = Counter(
            "tts_realtime_turns", "turns (input.done) finished on WebSocket sessions", registry=self.registry
        )
        self.realtime_sentence_first_audio = Histogram(
            "tts_realtime_sentence_first_audio_seconds",
            "from the fragment that completed a sentence to the first audio frame of it sent",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
