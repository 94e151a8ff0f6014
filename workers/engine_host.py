"""The engine host: loaded models and one worker thread that runs every synthesis, fairly.

Scheduling. Each job is a generator of PCM chunks (its pieces synthesized in order through ``engine.stream``
and joined by ``common.seams.SeamJoiner``). The worker thread steps the active jobs round-robin, one chunk per
turn, so concurrent requests advance together and a long one cannot starve a short one; every chunk goes to
its own job's sink, so audio is never mixed. A job whose client is slow (sink full) is skipped until it has
room, bounding the audio generated ahead; a cancelled job is closed on its next turn, which closes the
engine's stream generator — generation stops within one chunk of the cancel being seen.

Models. Every configured model can be served: the ``preload`` ones are loaded at start, any other on the first
job that names it, and all stay resident (the CustomVoice ↔ Base switch is routing, not reloading). Loading
and synthesis run on the worker thread only, so the event loop never waits on the engine.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from common.audio import float_to_s16le
from common.contracts import ModelInfo, SynthesisJob
from common.errors import InvalidRequest, NotFound, ServiceError, SynthesisFailed, Unavailable
from common.seams import SeamJoiner

log = logging.getLogger(__name__)


class Engine(Protocol):
    """The part of ``qwen_tts.TTSEngine`` the host uses."""

    model_type: str
    speakers: Sequence[str]
    languages: Sequence[str]

    def stream(self, request: Any) -> Iterator[Any]: ...


class ChunkSink(Protocol):
    """Where the host delivers one job's audio; written from the worker thread only."""

    @property
    def is_cancelled(self) -> bool: ...

    def has_room(self) -> bool: ...

    def put(self, pcm: bytes) -> None: ...

    def close(self, error: ServiceError | None = None) -> None: ...


EngineLoader = Callable[[str], Engine]
RequestFactory = Callable[..., Any]
ClonePromptProvider = Callable[[Engine, str], Any]


def qwen_request(*, text: str, job: SynthesisJob, voice_clone: Any, max_new_frames: int) -> Any:
    """Build a ``qwen_tts.SynthesisRequest`` (imported here: only worker processes import the engine)."""
    from qwen_tts import SamplingParams, SynthesisRequest

    overrides = {k: v for k, v in job.sampling.model_dump().items() if v is not None}
    sampling = SamplingParams(**overrides) if overrides else None
    kwargs: dict[str, Any] = {"sampling": sampling} if sampling is not None else {}
    return SynthesisRequest(
        text=text,
        language=job.language,
        speaker=job.speaker,
        instruct=job.instruct,
        voice_clone=voice_clone,
        max_new_frames=max_new_frames,
        seed=job.seed,
        **kwargs,
    )


def no_saved_voices(engine: Engine, voice_id: str) -> Any:
    raise NotFound(f"voice {voice_id!r} not found: saved voices are not available on this server")


def follows_instructions(engine: Engine) -> bool:
    """Whether ``instruct`` reaches the model: not on Base models, nor on the 0.6B CustomVoice (the official
    code drops it there, and the engine reports it as ignored); an engine may say so itself."""
    explicit = getattr(engine, "supports_instruct", None)
    if explicit is not None:
        return bool(explicit)
    if engine.model_type == "base":
        return False
    size = getattr(getattr(engine, "config", None), "tts_model_size", None)
    return not (engine.model_type == "custom_voice" and size == "0b6")


def model_info(name: str, engine: Engine) -> ModelInfo:
    return ModelInfo(
        name=name,
        model_type=engine.model_type,  # type: ignore[arg-type]
        speakers=tuple(engine.speakers or ()),
        languages=tuple(engine.languages or ()),
        supports_instruct=follows_instructions(engine),
    )


@dataclass(frozen=True, slots=True)
class JoinPolicy:
    pause_ms: float = 120.0
    fade_ms: float = 10.0


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How a job runs on an engine, wherever it runs (the host thread, a Celery task, a job segment)."""

    make_request: RequestFactory
    clone_prompts: ClonePromptProvider
    max_frames_per_piece: int
    join: JoinPolicy

    def audio(self, engine: Engine, job: SynthesisJob, *, max_frames: int | None = None) -> Iterator[bytes]:
        """``job_audio`` of ``job``, its saved voice's clone prompt resolved first (a missing one raises)."""
        voice_clone = self.clone_prompts(engine, job.voice_id) if job.voice_id else None
        return job_audio(
            engine,
            job,
            voice_clone=voice_clone,
            make_request=self.make_request,
            max_frames_per_piece=max_frames or self.max_frames_per_piece,
            join=self.join,
        )


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
        join: JoinPolicy = JoinPolicy(),
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


def service_error(error: Exception, request_id: str) -> ServiceError:
    """What a client is told when running a job raised ``error`` (the cause is kept)."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, ValueError):  # the engine's bad-input errors (unknown speaker, …) subclass it
        mapped: ServiceError = InvalidRequest(str(error))
    else:
        log.error("synthesis failed for request %s", request_id, exc_info=error)
        mapped = SynthesisFailed(f"synthesis failed: {type(error).__name__}: {error}")
    mapped.__cause__ = error
    return mapped


def job_audio(
    engine: Engine,
    job: SynthesisJob,
    *,
    voice_clone: Any,
    make_request: RequestFactory,
    max_frames_per_piece: int,
    join: JoinPolicy,
) -> Iterator[bytes]:
    """Run ``job`` on ``engine``: its pieces in order, joined seamlessly, as s16le PCM chunks.

    The one implementation of "run a job", shared by the engine host thread and the Celery task. Closing the
    iterator closes the engine's stream generator, which stops generation.
    """
    joiner = SeamJoiner(pause_ms=join.pause_ms, fade_ms=join.fade_ms)
    last = len(job.pieces) - 1
    for index, piece in enumerate(job.pieces):
        request = make_request(
            text=piece, job=job, voice_clone=voice_clone, max_new_frames=max_frames_per_piece
        )
        lead = joiner.start_piece()
        for chunk in engine.stream(request):
            out = joiner.feed(chunk.samples)
            if lead.size:
                out, lead = np.concatenate([lead, out]), lead[:0]
            if out.size:
                yield float_to_s16le(out)
        tail = joiner.end_piece(is_last=index == last)
        if tail.size:
            yield float_to_s16le(tail)
