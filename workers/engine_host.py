"""The engine host: loaded models and one worker thread that runs every synthesis, fairly.

Used by both run modes: the embedded server holds one, and so does each distributed worker child (its Celery
tasks hand their requests to it; ``workers.runtime``).

Scheduling. Each job is a generator of PCM chunks (``workers.engine_port.JobOptions.audio``). The worker
thread steps the active jobs round-robin, one chunk per turn, so concurrent requests advance together and a
long one cannot starve a short one; every chunk goes to its own job's sink, so audio is never mixed. Streams
on one engine share its batch (``optimization.max_batch_size`` rows): the turn of one job runs a step for
every live stream, and the others' chunks wait in the engine for their turn — the weights are read once per
frame for all of them. A job whose client is slow (sink full) is skipped until it has room; while it waits,
its stream still advances with the batch (bounded by the piece's frame cap). A cancelled job is closed on its
next turn, which closes the engine's stream generator and frees its row — generation stops within one chunk of
the cancel being seen. The host itself bounds nothing: a caller that must (a worker child) waits for room
(``wait_for_room``) before it takes more work.

Time limits (``TimeLimits``, set in worker children). A job running past ``job_s`` is closed on its next
turn with a ``time_limit`` error; a single step blocking past ``step_s`` ends the process
(``workers.step_watchdog``), as a hard time limit would.

Models come from a ``ModelResidency``: with no memory budget every model stays resident once loaded (the
embedded default: the ``preload`` ones at start, any other on the first job that names it; the CustomVoice ↔
Base switch is routing, not reloading). Under a budget (a worker), loading one model may evict another, so a
job whose model is not resident starts only once the started jobs on other models have finished. Loading and
synthesis run on the worker thread only, so neither the event loop nor a Celery task waits on the engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from common.contracts import ModelInfo, SynthesisJob
from common.errors import InvalidRequest, ServiceError, SynthesisFailed, Unavailable
from workers.engine_port import (
    ClonePromptProvider,
    Engine,
    EngineLoader,
    JobOptions,
    JoinPolicy,
    PieceAligner,
    RequestFactory,
    no_saved_voices,
    qwen_request,
    service_error,
)
from workers.residency import ModelResidency
from workers.step_watchdog import StepWatchdog

log = logging.getLogger(__name__)

DEFAULT_JOIN = JoinPolicy()
WARMUP_TEXT = "Hello."
WARMUP_FRAMES = 8


def time_limit_error() -> SynthesisFailed:
    return SynthesisFailed("the request ran past the worker's time limit", code="time_limit")


class ChunkSink(Protocol):
    """Where the host delivers one job's audio; written from the worker thread only."""

    @property
    def is_cancelled(self) -> bool: ...

    def has_room(self) -> bool: ...

    def put(self, pcm: bytes) -> None: ...

    def close(self, error: ServiceError | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """``job_s``: a job running longer (from its submission) is closed with a ``time_limit`` error.
    ``step_s``: one step (a chunk, or a model load) blocking longer ends the process (``StepWatchdog``)."""

    job_s: float | None = None
    step_s: float | None = None


@dataclass(slots=True)
class _Active:
    job: SynthesisJob
    sink: ChunkSink
    deadline: float | None
    audio: Iterator[bytes] | None = None

    def is_over(self, now: float) -> bool:
        return self.deadline is not None and now > self.deadline


class EngineHost:
    def __init__(
        self,
        engines: EngineLoader | ModelResidency,
        *,
        model_names: Sequence[str],
        preload: Sequence[str] = (),
        make_request: RequestFactory = qwen_request,
        clone_prompts: ClonePromptProvider = no_saved_voices,
        max_frames_per_piece: int = 2048,
        join: JoinPolicy = DEFAULT_JOIN,
        limits: TimeLimits = TimeLimits(),
        warm_up: bool = False,
        watchdog: StepWatchdog | None = None,
        aligner: PieceAligner | None = None,
    ) -> None:
        """``engines``: a loader (every model stays resident once loaded) or a ``ModelResidency`` (LRU under
        a memory budget). ``warm_up``: run one short synthesis on each preloaded model before ready.
        ``watchdog``: overrides the one ``limits.step_s`` builds (tests). ``aligner``: word timings after
        each piece for jobs that ask (``timestamps``), run here where the audio is."""
        self._models = engines if isinstance(engines, ModelResidency) else ModelResidency(engines)
        self._model_names = tuple(model_names)
        self._preload = tuple(preload)
        self._options = JobOptions(make_request, clone_prompts, max_frames_per_piece, join, aligner)
        self._limits = limits
        self._warm_up = warm_up
        if watchdog is None and limits.step_s is not None:
            watchdog = StepWatchdog(limits.step_s)
        self._watchdog = watchdog
        self._in_flight: dict[int, _Active] = {}  # submitted and not finished, oldest first
        self._pending: deque[_Active] = deque()  # not started, in submission order
        self._active: deque[_Active] = deque()  # started; the entry being stepped is in neither deque
        self._cond = threading.Condition()
        self._stopping = False
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="engine-host", daemon=True)

    # -- control (any thread) -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (and the preloading); calling it again is a no-op."""
        with self._cond:
            if self._thread.ident is None:
                self._thread.start()
                if self._watchdog is not None:
                    self._watchdog.start()

    @property
    def preload_models(self) -> tuple[str, ...]:
        return self._preload

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the preloaded models are in (True) or ``timeout``; re-raises a loading failure."""
        ready = self._ready.wait(timeout)
        if self._startup_error is not None:
            raise Unavailable(f"model loading failed: {self._startup_error}") from self._startup_error
        return ready

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set() and self._startup_error is None and self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        """Stop; jobs still running are closed with an error (``drain`` first to let them finish)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._watchdog is not None:
            self._watchdog.stop()

    def models(self) -> list[ModelInfo]:
        return [info for name in self._model_names if (info := self._models.info(name)) is not None]

    def model_names(self) -> tuple[str, ...]:
        return self._model_names

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._in_flight)

    def running(self) -> tuple[str, ...]:
        """Request ids of the jobs submitted and not finished, oldest first."""
        with self._cond:
            return tuple(entry.job.request_id for entry in self._in_flight.values())

    def wait_for_room(self, limit: int, timeout: float | None = None) -> bool:
        """Block until fewer than ``limit`` jobs are in flight (True) or ``timeout`` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._in_flight) < limit, timeout)

    def drain(self, timeout: float) -> bool:
        """Block until every job has finished (True) or ``timeout`` passes (False)."""
        return self.wait_for_room(1, timeout)

    def submit(self, job: SynthesisJob, sink: ChunkSink) -> None:
        if job.model not in self._model_names:
            raise InvalidRequest(f"model {job.model!r} is not configured", param="model")
        deadline = None if self._limits.job_s is None else time.monotonic() + self._limits.job_s
        entry = _Active(job, sink, deadline)
        with self._cond:
            if self._stopping:
                raise Unavailable("the engine host is shutting down")
            self._pending.append(entry)
            self._in_flight[id(entry)] = entry
            self._cond.notify_all()

    def notify(self) -> None:
        """A sink gained room or was cancelled: let the worker thread look again."""
        with self._cond:
            self._cond.notify_all()

    # -- worker thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            for name in self._preload:
                engine = self._models.get(name)
                if self._warm_up:
                    self._warm(name, engine)
        except BaseException as e:  # reported through wait_ready / is_ready
            # a missing or bad checkpoint is a ValueError with a complete message; anything else is a bug
            log.error("loading the preloaded models failed: %s", e, exc_info=not isinstance(e, ValueError))
            self._startup_error = e
            self._ready.set()
            return
        self._ready.set()
        while (entry := self._next_runnable()) is not None:
            self._step(entry)
        for entry in [*self._pending, *self._active]:
            self._finish(entry, Unavailable("the engine host shut down before the request finished"))

    def _next_runnable(self) -> _Active | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                while self._pending and self._may_start(self._pending[0].job.model):
                    self._active.append(self._pending.popleft())
                now = time.monotonic()
                for _ in range(len(self._active)):
                    entry = self._active.popleft()
                    if entry.sink.is_cancelled or entry.is_over(now) or entry.sink.has_room():
                        return entry
                    self._active.append(entry)
                for entry in self._pending:  # waiting for a model switch: it may still end
                    if entry.sink.is_cancelled or entry.is_over(now):
                        self._pending.remove(entry)
                        return entry
                self._cond.wait(timeout=1.0)

    def _may_start(self, model: str) -> bool:
        """Whether a job on ``model`` may start now. Where loading a model can evict another (a memory
        budget), a job whose model is not resident waits until the started jobs on other models have
        finished: an engine in use is never unloaded under its streams. Later jobs wait behind it."""
        if self._models.budget_bytes is None:
            return True
        started = {entry.job.model for entry in self._active}
        return started <= {model} or started | {model} <= set(self._models.resident)

    def _step(self, entry: _Active) -> None:
        if entry.sink.is_cancelled:
            self._finish(entry, None)
            return
        if entry.is_over(time.monotonic()):
            log.warning("request %s ran past the time limit (%g s)", entry.job.request_id, self._limits.job_s)
            self._finish(entry, time_limit_error())
            return
        try:
            with self._watch(entry.job.request_id):
                if entry.audio is None:
                    entry.audio = self._options.audio(self._models.get(entry.job.model), entry.job)
                entry.sink.put(next(entry.audio))
        except StopIteration:
            self._finish(entry, None)
            return
        except Exception as e:
            self._finish(entry, service_error(e, entry.job.request_id))
            return
        with self._cond:
            self._active.append(entry)

    def _finish(self, entry: _Active, error: ServiceError | None) -> None:
        try:
            if entry.audio is not None:
                entry.audio.close()  # closes the engine's stream generator: generation stops here
            entry.sink.close(error)
        except Exception as e:  # one job's failing sink (its Redis write, say) must not stop the others
            log.error("closing request %s failed: %s", entry.job.request_id, e, exc_info=e)
        finally:
            with self._cond:
                self._in_flight.pop(id(entry), None)
                self._cond.notify_all()

    def _watch(self, what: str) -> AbstractContextManager[None]:
        return self._watchdog.watch(what) if self._watchdog is not None else nullcontext()

    def _warm(self, name: str, engine: Engine) -> None:
        """One short synthesis, so the first request pays no lazy set-up (caches, kernels, graphs)."""
        info = self._models.info(name)
        if info is None or info.model_type == "base":  # a clone needs a reference voice: warmed on first use
            return
        job = SynthesisJob(
            request_id="warmup",
            model=name,
            pieces=(WARMUP_TEXT,),
            speaker=info.speakers[0] if info.model_type == "custom_voice" and info.speakers else None,
            instruct="A calm, clear voice." if info.model_type == "voice_design" else None,
        )
        for _ in self._options.audio(engine, job, max_frames=WARMUP_FRAMES):
            pass
