"""Runs text through a real Pipecat pipeline (a TTS service, then a recorder) and keeps what came out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.tts_service import TTSService
from pipecat.workers.runner import WorkerRunner


@dataclass(slots=True)
class Received:
    """Audio frames and errors in arrival order, each with its ``time.monotonic()`` arrival time."""

    audio: list[tuple[float, TTSAudioRawFrame]] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # one TTSStartedFrame per synthesized sentence
    errors: list[str] = field(default_factory=list)
    synthesizing_at_first_audio: bool | None = None  # was the server still generating when audio arrived?

    @property
    def pcm(self) -> bytes:
        return b"".join(frame.audio for _, frame in self.audio)


class Recorder(FrameProcessor):
    def __init__(self, received: Received, is_synthesizing: Callable[[], bool]) -> None:
        super().__init__()
        self._received = received
        self._is_synthesizing = is_synthesizing

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            if not self._received.audio:
                self._received.synthesizing_at_first_audio = self._is_synthesizing()
            self._received.audio.append((time.monotonic(), frame))
        elif isinstance(frame, TTSStartedFrame):
            self._received.started.append(time.monotonic())
        elif isinstance(frame, ErrorFrame):
            self._received.errors.append(frame.error)
        await self.push_frame(frame, direction)


async def _run(
    tts: TTSService, tokens: Sequence[str], received: Received, is_synthesizing: Callable[[], bool]
) -> None:
    # errors travel upstream, audio downstream: a recorder on each side of the service
    worker = PipelineWorker(
        Pipeline([Recorder(received, is_synthesizing), tts, Recorder(received, is_synthesizing)]),
        params=PipelineParams(audio_out_sample_rate=24_000),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )
    # what an LLM service pushes: a response start, its text in tokens, a response end
    frames: list[Frame] = [LLMFullResponseStartFrame(), *(TextFrame(t) for t in tokens)]
    await worker.queue_frames([*frames, LLMFullResponseEndFrame(), EndFrame()])
    await WorkerRunner(handle_sigint=False).run(worker)


def synthesize(
    tts: TTSService, tokens: Sequence[str], is_synthesizing: Callable[[], bool], *, timeout_s: float = 60.0
) -> Received:
    """Push ``tokens`` (an LLM response, token by token) through ``tts``; every frame that came out.
    ``is_synthesizing`` is asked when the first audio frame comes out of the pipeline."""
    received = Received()
    asyncio.run(asyncio.wait_for(_run(tts, tokens, received, is_synthesizing), timeout_s))
    return received
