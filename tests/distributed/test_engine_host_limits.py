"""The engine host as a worker child uses it (in-process, fake engine): room and in-flight ids, the job time
limit, the step watchdog, and model switches under a memory budget that never unload an engine in use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from common.contracts import SynthesisJob
from tests.service.fake_engine import FakeEngine, FakeRequest, fake_request
from workers.engine_host import EngineHost, TimeLimits
from workers.jobs.synthesis import CollectingSink
from workers.residency import ModelResidency
from workers.step_watchdog import StepWatchdog

MODEL = "fake-CustomVoice"
WAIT_S = 20.0


def job(text: str, request_id: str, model: str = MODEL) -> SynthesisJob:
    return SynthesisJob(request_id=request_id, model=model, pieces=(text,), speaker="Vivian")


@contextmanager
def running_host(engines: ModelResidency | dict[str, FakeEngine], **options: object) -> Iterator[EngineHost]:
    source = engines if isinstance(engines, ModelResidency) else engines.__getitem__
    names = list(engines) if isinstance(engines, dict) else [MODEL]
    host = EngineHost(
        source, model_names=options.pop("model_names", names), make_request=fake_request, **options
    )
    host.start()
    try:
        assert host.wait_ready(WAIT_S)
        yield host
    finally:
        host.close()


def test_the_host_reports_every_job_in_flight_and_when_it_has_room() -> None:
    with running_host({MODEL: FakeEngine(delay_s=0.02)}) as host:
        sinks = [CollectingSink(), CollectingSink()]
        for n, sink in enumerate(sinks):
            host.submit(job("x" * 40, f"r{n}"), sink)
        assert host.running() == ("r0", "r1")
        assert not host.wait_for_room(2, timeout=0.01)
        assert host.wait_for_room(3, timeout=0)
        assert host.drain(WAIT_S) and host.running() == ()
    assert all(sink.closed.is_set() and sink.error is None and sink.chunks for sink in sinks)


def test_a_job_past_the_time_limit_ends_with_a_time_limit_error_and_the_others_go_on() -> None:
    engine = FakeEngine(delay_s=0.05)
    with running_host({MODEL: engine}, limits=TimeLimits(job_s=0.5)) as host:
        long, short = CollectingSink(), CollectingSink()
        host.submit(job("x" * 200, "long"), long)  # ~5 s of chunks
        host.submit(job("y", "short"), short)
        assert long.closed.wait(WAIT_S) and short.closed.wait(WAIT_S)
    assert long.error is not None and long.error.code == "time_limit", long.error
    assert short.error is None and short.chunks
    assert engine.records[0].closed_early  # the engine stream was closed: generation stopped


def test_a_step_blocked_past_the_step_limit_calls_the_watchdog() -> None:
    stuck = threading.Event()
    watchdog = StepWatchdog(0.2, on_stuck=stuck.set)
    with running_host({MODEL: FakeEngine(delay_s=2.0)}, watchdog=watchdog) as host:
        host.submit(job("x", "hung"), CollectingSink())
        assert stuck.wait(WAIT_S)


def test_a_quick_step_never_trips_the_watchdog() -> None:
    stuck = threading.Event()
    watchdog = StepWatchdog(0.5, on_stuck=stuck.set)
    with running_host({MODEL: FakeEngine(delay_s=0.01)}, watchdog=watchdog) as host:
        sink = CollectingSink()
        host.submit(job("x" * 60, "quick"), sink)
        assert sink.closed.wait(WAIT_S) and sink.error is None
    assert not stuck.is_set()


class WatchedEngine(FakeEngine):
    """Records, when a stream starts, whether the other model's streams had all finished."""

    other: FakeEngine | None = None
    others_done_at_start: list[bool]

    def stream(self, request: FakeRequest) -> Iterator:  # type: ignore[override]
        assert self.other is not None
        self.others_done_at_start.append(all(r.finished or r.closed_early for r in self.other.records))
        return super().stream(request)


def test_under_a_budget_a_model_switch_waits_for_the_streams_of_the_model_it_evicts() -> None:
    first = FakeEngine(delay_s=0.02)
    second = WatchedEngine(delay_s=0.0)
    second.other, second.others_done_at_start = first, []
    engines = {"A-CustomVoice": first, "B-CustomVoice": second}
    loaded: list[str] = []

    def load(name: str) -> FakeEngine:
        loaded.append(name)
        return engines[name]

    residency = ModelResidency(load, budget_bytes=1, size_of=lambda _: 1)  # one model at a time
    with running_host(residency, model_names=list(engines), preload=["A-CustomVoice"]) as host:
        sinks = [CollectingSink(), CollectingSink(), CollectingSink()]
        host.submit(job("x" * 40, "a1", "A-CustomVoice"), sinks[0])
        host.submit(job("y", "b1", "B-CustomVoice"), sinks[1])
        host.submit(job("z", "a2", "A-CustomVoice"), sinks[2])  # behind the switch: waits its turn
        assert host.drain(WAIT_S)
    assert all(sink.error is None and sink.chunks for sink in sinks)
    assert second.others_done_at_start == [True]  # A's stream ended before B was loaded
    assert loaded == ["A-CustomVoice", "B-CustomVoice", "A-CustomVoice"]
