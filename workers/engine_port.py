"""The engine as the workers use it: its protocol, what it serves, and running one job on it.

``JobOptions.audio`` (over ``job_audio``) is the one implementation of "run a ``SynthesisJob``": its pieces
in order through ``engine.stream``, joined by ``common.seams.SeamJoiner``, as s16le PCM chunks. The embedded
engine host thread, the Celery stream task and the job segments all run jobs through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from common.audio.pcm import float_to_s16le
from common.contracts import SAMPLE_RATE, ModelInfo, SynthesisJob
from common.errors import InvalidRequest, NotFound, ServiceError, SynthesisFailed
from common.seams import SeamJoiner
from common.subtitles import Word
from common.word_timings import PieceWords, StreamItem

if TYPE_CHECKING:
    from common.settings import Settings

log = logging.getLogger(__name__)


class Engine(Protocol):
    """The part of ``qwen_tts.TTSEngine`` the host uses."""

    model_type: str
    speakers: Sequence[str]
    languages: Sequence[str]

    def stream(self, request: Any) -> Iterator[Any]: ...


class PieceAligner(Protocol):
    """Word timings of one piece's samples (``workers.jobs.alignment.SegmentAligner``)."""

    def align_samples(self, samples: np.ndarray, text: str, language: str | None) -> list[Word]: ...


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
    """The seam between two pieces of one job: a pause, and fades over this many ms on each side."""

    pause_ms: float = 120.0
    fade_ms: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> JoinPolicy:
        return cls(pause_ms=settings.seam_pause_ms, fade_ms=settings.seam_fade_ms)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How a job runs on an engine, wherever it runs (the host thread, a Celery task, a job segment)."""

    make_request: RequestFactory
    clone_prompts: ClonePromptProvider
    max_frames_per_piece: int
    join: JoinPolicy
    aligner: PieceAligner | None = None

    def audio(
        self, engine: Engine, job: SynthesisJob, *, max_frames: int | None = None
    ) -> Iterator[StreamItem]:
        """``job_audio`` of ``job``, its saved voice's clone prompt resolved first (a missing one raises)."""
        voice_clone = self.clone_prompts(engine, job.voice_id) if job.voice_id else None
        return job_audio(
            engine,
            job,
            voice_clone=voice_clone,
            make_request=self.make_request,
            max_frames_per_piece=min(max_frames or self.max_frames_per_piece, job.max_new_frames or 1 << 30),
            join=self.join,
            aligner=self.aligner if job.timestamps == "word" else None,
        )


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
    aligner: PieceAligner | None = None,
) -> Iterator[StreamItem]:
    """Run ``job`` on ``engine``: its pieces in order, joined seamlessly, as s16le PCM chunks; with an
    ``aligner``, each piece's ``PieceWords`` right after its audio (aligned on the piece's own samples).

    Closing the iterator closes the engine's stream generator, which stops generation.
    """
    joiner = SeamJoiner(pause_ms=join.pause_ms, fade_ms=join.fade_ms)
    last = len(job.pieces) - 1
    emitted = 0  # samples out so far: where the next piece starts (after its lead pause)
    for index, piece in enumerate(job.pieces):
        request = make_request(
            text=piece, job=job, voice_clone=voice_clone, max_new_frames=max_frames_per_piece
        )
        lead = joiner.start_piece()
        start = emitted + lead.size
        samples: list[np.ndarray] = []
        for chunk in engine.stream(request):
            if aligner is not None:
                samples.append(np.asarray(chunk.samples, dtype=np.float32).reshape(-1))
            out = joiner.feed(chunk.samples)
            if lead.size:
                out, lead = np.concatenate([lead, out]), lead[:0]
            if out.size:
                emitted += out.size
                yield float_to_s16le(out)
        tail = joiner.end_piece(is_last=index == last)
        if tail.size:
            emitted += tail.size
            yield float_to_s16le(tail)
        if aligner is not None:
            audio = np.concatenate(samples) if samples else np.zeros(0, np.float32)
            words = aligner.align_samples(audio, piece, job.language)
            yield PieceWords(piece=index, offset_s=start / SAMPLE_RATE, words=tuple(words))
