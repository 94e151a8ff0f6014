"""The engine host: loaded models and one worker thread that runs every synthesis, fairly.

Scheduling. Each job is a generator of PCM chunks (``workers.engine_port.JobOptions.audio``). The worker
thread steps the active jobs round-robin, one chunk per turn, so concurrent requests advance together and a
long one cannot starve a short one; every chunk goes to its own job's sink, so audio is never mixed. Streams
on one engine share its batch (``optimization.max_batch_size`` rows): the turn of one job runs a step for
every live stream, and the others' chunks wait in the engine for their turn — the weights are read once per
frame for all of them. A job whose client is slow (sink full) is skipped until it has room; while it waits,
its stream still advances with the batch (bounded by the piece's frame cap). A cancelled job is closed on its
next turn, which closes the engine's stream generator and frees its row — generation stops within one chunk of
the cancel being seen.

Models. Every configured model can be served: the ``preload`` ones are loaded at start, any other on the first
job that names it, and all stay resident (the CustomVoice ↔ Base switch is routing, not reloading). Loading
and synthesis run on the worker thread only, so the event loop never waits on the engine.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.contracts import ModelInfo, SynthesisJob
from common.errors import InvalidRequest, ServiceError, Unavailable
from workers.engine_port import (
    ClonePromptProvider,
    Engine,
    EngineLoader,
    JobOptions,
    JoinPolicy,
    RequestFactory,
    model_info,
    no_saved_voices,
    qwen_request,
    service_error,
)

log = logging.getLogger(__name__)

DEFAULT_JOIN = JoinPolicy()


class ChunkSink(Protocol):
    """Where the host delivers one job's audio; written from the worker thread only."""

    @property
    def is_cancelled(self) -> bool: ...

    def has_room(self) -> bool: ...

    def put(self, pcm: bytes) -> None: ...

    def close(self, error: ServiceError | None = None) -> None: ...


@dataclass(slots=True)
class _Active:
    job: SynthesisJob
    sink: ChunkSink
    audio: Iterator[bytes] | None = None


class EngineHost:
    def __init__(
        self,
        loader: EngineLoader,
        *,
        model_names: Sequence[str],
        preload: Sequence[str] = (),
        make_request: RequestFactory = qwen_request,
        clone_prompts: ClonePromptProvider = no_saved_voices,
        max_frames_per_piece: int = 2048,
        join: JoinPolicy = DEFAULT_JOIN,
    ) -> None:
        self._loader = loader
        self._model_names = tuple(model_names)
        self._preload = tuple(preload)
        self._options = JobOptions(make_request, clone_prompts, max_frames_per_piece, join)
        self._engines: dict[str, Engine] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._pending: deque[_Active] = deque()
        self._active: deque[_Active] = deque()  # the entry being stepped is in neither deque
        self._num_jobs = 0  # submitted and not finished
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
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def models(self) -> list[ModelInfo]:
        return list(self._infos.values())

    def model_names(self) -> tuple[str, ...]:
        return self._model_names

    def queue_depth(self) -> int:
        with self._cond:
            return self._num_jobs

    def submit(self, job: SynthesisJob, sink: ChunkSink) -> None:
        if job.model not in self._model_names:
            raise InvalidRequest(f"model {job.model!r} is not configured", param="model")
        with self._cond:
            if self._stopping:
                raise Unavailable("the engine host is shutting down")
            self._pending.append(_Active(job, sink))
            self._num_jobs += 1
            self._cond.notify_all()

    def notify(self) -> None:
        """A sink gained room or was cancelled: let the worker thread look again."""
        with self._cond:
            self._cond.notify_all()

    # -- worker thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            for name in self._preload:
                self._engine(name)
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
            self._finish(entry, Unavailable("the engine host shut down"))

    def _next_runnable(self) -> _Active | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                self._active.extend(self._pending)
                self._pending.clear()
                for _ in range(len(self._active)):
                    entry = self._active.popleft()
                    if entry.sink.is_cancelled or entry.sink.has_room():
                        return entry
                    self._active.append(entry)
                self._cond.wait(timeout=1.0)

    def _step(self, entry: _Active) -> None:
        if entry.sink.is_cancelled:
            self._finish(entry, None)
            return
        try:
            if entry.audio is None:
                entry.audio = self._options.audio(self._engine(entry.job.model), entry.job)
            pcm = next(entry.audio)
        except StopIteration:
            self._finish(entry, None)
            return
        except Exception as e:
            self._finish(entry, service_error(e, entry.job.request_id))
            return
        entry.sink.put(pcm)
        with self._cond:
            self._active.append(entry)

    def _finish(self, entry: _Active, error: ServiceError | None) -> None:
        if entry.audio is not None:
            entry.audio.close()  # closes the engine's stream generator: generation stops here
        entry.sink.close(error)
        with self._cond:
            self._num_jobs -= 1

    def _engine(self, name: str) -> Engine:
        if (engine := self._engines.get(name)) is None:
            log.info("loading model %s", name)
            engine = self._loader(name)
            self._engines[name] = engine
            self._infos[name] = model_info(name, engine)
        return engine
