"""Turning a chunk stream into the HTTP response the client asked for: whole body, audio stream, or SSE.

The first chunk is awaited before any response starts, so an error the engine reports up front (unknown
speaker, bad language, …) still reaches the client as a proper 4xx/5xx envelope. After that, the body is
produced while the audio is generated; when the client goes away the stream is cancelled (the worker stops
within a chunk) and the admission ticket is released. Encoding runs off the event loop, in worker threads
(``common.audio.aio``).

SSE usage: ``input_tokens`` counts input characters (after normalisation), ``output_tokens`` counts codec
frames of generated audio (12.5 per second, 1920 samples each).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from common.audio.aio import encode_stream, encode_whole
from common.audio.formats import FORMATS
from common.audio.pcm import num_samples
from common.contracts import SAMPLE_RATE
from common.errors import ServiceError
from common.ports import ChunkStream
from common.word_timings import PieceWords, StreamItem
from web.admission import Ticket
from web.metrics import Metrics
from web.speech_plan import SpeechPlan

SAMPLES_PER_FRAME = 1920

log = logging.getLogger(__name__)


class AudioStreamResponse(StreamingResponse):
    """A StreamingResponse that always runs ``cleanup`` when it ends, whatever ended it — even when the
    client left before the body generator started (closing an unstarted generator runs no ``finally``)."""

    def __init__(
        self, content: AsyncIterator[bytes], *, cleanup: Callable[[], Awaitable[None]], **kw: Any
    ) -> None:
        super().__init__(content, **kw)
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await super().__call__(scope, receive, tracked)
        except Exception as e:
            if not started:
                raise  # no byte sent yet: the error handlers answer with an envelope
            # After the first byte the status is out: the body ends without its last chunk, so the client sees
            # a truncated transfer, never a complete-looking file; one line in the log, not a traceback.
            log.warning(
                "stream aborted after the first byte: %s",
                type(e).__name__,
                extra={"error": str(e)[:300], "code": getattr(e, "code", None)},
            )
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            await self._cleanup()


class ClientGone(Exception):
    """The client disconnected while a whole-body response was being produced."""


@dataclass(slots=True)
class _Progress:
    started_at: float
    samples: int = 0
    first_audio_at: float | None = None
    finished: bool = False


async def _pcm_with_first(
    first: StreamItem,
    stream: ChunkStream,
    progress: _Progress,
    disconnected: Callable[[], Awaitable[bool]] | None,
    words: list[PieceWords] | None = None,
) -> AsyncIterator[bytes]:
    """The primed first chunk, then the rest; raises ``ClientGone`` when ``disconnected()`` says so. Word
    timings (a request with ``timestamps``) go to ``words``, in order, as they arrive after their audio."""

    async def items() -> AsyncIterator[StreamItem]:
        yield first
        async for item in stream:
            yield item

    async for chunk in items():
        if isinstance(chunk, PieceWords):
            if words is not None:
                words.append(chunk)
            continue
        if disconnected is not None and await disconnected():
            raise ClientGone
        progress.samples += num_samples(chunk)
        yield chunk


def _headers(plan: SpeechPlan, *, streaming: bool) -> dict[str, str]:
    headers = {"x-model": plan.model.name}
    if plan.instructions_ignored:
        headers["x-instructions-ignored"] = plan.instructions_ignored
    if streaming:
        headers |= {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return headers


def _words_event(piece: PieceWords, speed: float) -> dict[str, object]:
    """``speech.audio.words``: one piece's words, in seconds from the start of the audio (after ``speed``)."""
    words = [
        {"text": w.text, "start": round(w.start_s / speed, 3), "end": round(w.end_s / speed, 3)}
        for w in piece.from_start()
    ]
    return {"type": "speech.audio.words", "words": words}


def _sse(event: dict[str, object]) -> bytes:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


async def build_speech_response(
    plan: SpeechPlan,
    stream: ChunkStream,
    *,
    request: Request,
    ticket: Ticket,
    metrics: Metrics,
    started_at: float,
) -> Response:
    progress = _Progress(started_at=started_at)

    async def finish() -> None:
        """Idempotent: stop generation, free the admission slot, record RTF once."""
        await stream.cancel()
        ticket.release()
        if progress.samples and not progress.finished:
            progress.finished = True
            audio_s = progress.samples / SAMPLE_RATE
            metrics.audio_seconds.inc(audio_s)
            metrics.real_time_factor.observe((time.perf_counter() - started_at) / audio_s)

    def first_audio(kind: str) -> None:
        if progress.first_audio_at is None:
            progress.first_audio_at = time.perf_counter()
            metrics.time_to_first_audio.labels(kind).observe(progress.first_audio_at - started_at)

    fmt = FORMATS[plan.response_format]
    try:
        first = await anext(aiter(stream), b"")
    except BaseException:
        await finish()
        raise

    if plan.stream_mode == "none":
        try:
            pcm = _pcm_with_first(first, stream, progress, request.is_disconnected)
            body = await encode_whole(pcm, fmt.name, speed=plan.speed)
        except ClientGone:
            return Response(status_code=499)
        finally:
            await finish()
        first_audio("none")
        return Response(body, media_type=fmt.content_type, headers=_headers(plan, streaming=False))

    words: list[PieceWords] = []  # SSE with timestamps: each piece's words, sent after its audio

    async def audio_body() -> AsyncIterator[bytes]:
        try:
            pcm = _pcm_with_first(first, stream, progress, None, words)
            async for data in encode_stream(pcm, fmt.name, speed=plan.speed):
                first_audio(plan.stream_mode)
                yield data
        finally:
            await finish()

    if plan.stream_mode == "audio":
        return AudioStreamResponse(
            audio_body(), cleanup=finish, media_type=fmt.content_type, headers=_headers(plan, streaming=True)
        )

    async def sse_body() -> AsyncIterator[bytes]:
        body = audio_body()
        try:
            async for data in body:
                yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})
                while words:
                    yield _sse(_words_event(words.pop(0), plan.speed))
            while words:  # the last piece's words come after its last audio
                yield _sse(_words_event(words.pop(0), plan.speed))
        except ServiceError as e:  # headers are out: report the failure in-band and end the stream
            log.warning("SSE stream failed after the first event: %s", e.code, extra={"error": e.message})
            yield _sse({"type": "error", "error": {"message": e.message, "type": e.type, "code": e.code}})
            return
        except Exception as e:  # an unexpected failure: the same in-band end, one log line
            name = type(e).__name__
            log.warning("SSE stream failed after the first event: %s", name, extra={"error": f"{e}"})
            error = {"message": "internal server error", "type": "server_error", "code": "internal_error"}
            yield _sse({"type": "error", "error": error})
            return
        finally:
            with contextlib.suppress(RuntimeError):
                await body.aclose()
        frames = math.ceil(progress.samples / SAMPLES_PER_FRAME)
        usage = {
            "input_tokens": plan.input_chars,
            "output_tokens": frames,
            "total_tokens": plan.input_chars + frames,
        }
        yield _sse({"type": "speech.audio.done", "usage": usage})

    return AudioStreamResponse(
        sse_body(), cleanup=finish, media_type="text/event-stream", headers=_headers(plan, streaming=True)
    )
