"""The sentences of a session, synthesized in order and sent strictly in order.

Two tasks share a bounded pipeline: the submitter plans each sentence and submits its job to the
dispatcher as soon as a slot is free; the sender streams one sentence's audio to the socket at a time. With
two slots the next sentence's job is submitted while the current one's audio is still streaming, so its
prefill overlaps the current decode, but its frames are sent only after the current ``audio.done``. Turn
ends ride the same queues, so ``session.done`` follows the turn's last ``audio.done``.

Closing the pipeline (the client left) cancels every chunk stream it holds, which stops generation on the
engine side within a chunk or two, in both run modes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from common.audio.aio import encode_stream, encode_whole
from common.audio.pcm import num_samples
from common.contracts import SAMPLE_RATE
from common.errors import ServiceError
from common.ports import ChunkStream
from common.word_timings import PieceWords
from web.deps import AppState
from web.realtime.protocol import (
    SentenceResult,
    WordAlignment,
    audio_done,
    audio_start,
    error_event,
    session_done,
)
from web.realtime.session_setup import SessionSetup, wants_words

log = logging.getLogger(__name__)


class Outbox:
    """Sends to the socket one whole message at a time (the session and the sender both write)."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        self._lock = asyncio.Lock()

    async def event(self, event: dict[str, Any]) -> None:
        async with self._lock:
            await self._websocket.send_text(json.dumps(event, separators=(",", ":")))

    async def audio(self, data: bytes) -> None:
        async with self._lock:
            await self._websocket.send_bytes(data)


@dataclass(frozen=True, slots=True)
class Sentence:
    turn: int
    index: int
    text: str
    ended_at: float  # perf_counter() when the fragment that completed it arrived
    setup: SessionSetup


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    total_sentences: int


@dataclass(frozen=True, slots=True)
class _Submitted:
    sentence: Sentence
    stream: ChunkStream | None
    error: ServiceError | None


class TurnPipeline:
    def __init__(self, state: AppState, outbox: Outbox, *, session_id: str, ahead: int = 1) -> None:
        self._state = state
        self._outbox = outbox
        self._session_id = session_id
        self._todo: asyncio.Queue[Sentence | EndOfTurn] = asyncio.Queue()
        self._ready: asyncio.Queue[_Submitted | EndOfTurn] = asyncio.Queue()
        self._slots = asyncio.Semaphore(1 + ahead)
        self._pending = 0  # sentences and turn ends not sent yet
        self._streams: set[ChunkStream] = set()
        self.failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._submit_loop()), asyncio.create_task(self._send_loop())]
        for task in self._tasks:
            task.add_done_callback(self._note_failure)

    @property
    def busy(self) -> bool:
        """Audio or a ``session.done`` is still due."""
        return self._pending > 0

    def add(self, sentence: Sentence) -> None:
        self._pending += 1
        self._todo.put_nowait(sentence)

    def end_turn(self, total_sentences: int) -> None:
        self._pending += 1
        self._todo.put_nowait(EndOfTurn(total_sentences))

    async def close(self) -> None:
        """Stop both tasks and cancel every stream submitted (idempotent)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for stream in list(self._streams):
            await stream.cancel()
        self._streams.clear()

    def _note_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.failed.done():
            self.failed.set_result(task.exception())  # type: ignore[arg-type]

    async def _submit_loop(self) -> None:
        while True:
            item = await self._todo.get()
            if isinstance(item, EndOfTurn):
                self._ready.put_nowait(item)
                continue
            await self._slots.acquire()
            self._ready.put_nowait(await self._submit(item))

    async def _submit(self, sentence: Sentence) -> _Submitted:
        request_id = f"{self._session_id}-t{sentence.turn}-s{sentence.index}"
        try:
            job = sentence.setup.job(self._state, sentence.text, request_id=request_id)
            stream = await self._state.services.dispatcher.submit(job)
        except ServiceError as e:
            return _Submitted(sentence, None, e)
        self._streams.add(stream)
        return _Submitted(sentence, stream, None)

    async def _send_loop(self) -> None:
        while True:
            item = await self._ready.get()
            try:
                if isinstance(item, EndOfTurn):
                    await self._outbox.event(session_done(item.total_sentences))
                    self._state.metrics.realtime_turns.inc()
                else:
                    try:
                        await self._send_sentence(item)
                    finally:
                        self._slots.release()
            finally:
                self._pending -= 1

    async def _send_sentence(self, item: _Submitted) -> None:
        sentence, config = item.sentence, item.sentence.setup.config
        await self._outbox.event(
            audio_start(sentence.index, sentence.text, config.response_format, SAMPLE_RATE)
        )
        error = item.error
        result = SentenceResult()
        if item.stream is not None:
            try:
                result = await self._send_audio(sentence, item.stream)
            except ServiceError as e:
                error = e
            finally:
                await item.stream.cancel()
                self._streams.discard(item.stream)
        if error is not None:
            log.info("realtime sentence %s failed: %s", sentence.index, error.message)
            await self._outbox.event(error_event(error.message, error.code, error.param))
            result = result.model_copy(update={"error": {"message": error.message, "code": error.code}})
        await self._outbox.event(audio_done(sentence.index, result))

    async def _send_audio(self, sentence: Sentence, stream: ChunkStream) -> SentenceResult:
        """Encode and send one sentence's audio: frame by frame, or as one frame (``stream_audio: false``)."""
        config = sentence.setup.config
        sent = 0
        words: list[PieceWords] = []
        pcm = self._counted(stream, words)
        if config.stream_audio:
            async for data in encode_stream(pcm, config.response_format, speed=config.speed):
                if not sent:
                    self._first_audio(sentence)
                sent += len(data)
                await self._outbox.audio(data)
        else:
            body = await encode_whole(pcm, config.response_format, speed=config.speed)
            self._first_audio(sentence)
            sent = len(body)
            await self._outbox.audio(body)
        if not wants_words(config):
            return SentenceResult(audio_bytes=sent)
        timed = [w for piece in words for w in piece.from_start()]  # from the sentence's first sample
        alignment = WordAlignment(
            words=[w.text for w in timed],
            word_start_times_seconds=[round(w.start_s / config.speed, 3) for w in timed],
            word_end_times_seconds=[round(w.end_s / config.speed, 3) for w in timed],
        )
        return SentenceResult(audio_bytes=sent, word_alignment=alignment)

    async def _counted(self, stream: ChunkStream, words: list[PieceWords]) -> AsyncIterator[bytes]:
        """The stream's PCM, counted into ``tts_audio_seconds`` as it passes; word timings into ``words``."""
        async for chunk in stream:
            if isinstance(chunk, PieceWords):
                words.append(chunk)
                continue
            self._state.metrics.audio_seconds.inc(num_samples(chunk) / SAMPLE_RATE)
            yield chunk

    def _first_audio(self, sentence: Sentence) -> None:
        self._state.metrics.realtime_sentence_first_audio.observe(time.perf_counter() - sentence.ended_at)
