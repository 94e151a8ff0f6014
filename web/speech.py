"""``POST /v1/audio/speech``: parse → plan → admit → dispatch → respond."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from common.errors import InvalidRequest
from web.audio_response import build_speech_response
from web.deps import AppState, CurrentKey, StateDep
from web.errors import error_responses
from web.inline_voice import inline_voice
from web.middleware import request_id_of
from web.schemas import SpeechRequest
from web.speech_plan import Limits, SpeechPlan, plan_speech
from web.stream_retry import RetryBeforeFirstChunk
from web.voices import ResolvedVoice

router = APIRouter()

SPEECH_CONTENT_TYPES = (
    "audio/mpeg",
    "audio/ogg",
    "audio/aac",
    "audio/flac",
    "audio/wav",
    "audio/pcm",
    "text/event-stream",
)


async def resolve_voice(state: AppState, body: SpeechRequest) -> ResolvedVoice:
    """The request's voice: a name from the catalog, or a one-off clone of its inline ``ref_audio``."""
    if body.voice is not None:
        return await state.catalog.resolve(body.voice)
    return await inline_voice(state.services.voice_library, body)


def plan_request(
    state: AppState, body: SpeechRequest, voice: ResolvedVoice, *, request_id: str
) -> SpeechPlan:
    """``plan_speech`` with this server's models and limits (also used per sentence by ``web.realtime``)."""
    settings = state.services.settings
    return plan_speech(
        body,
        voice,
        models=state.services.dispatcher.models(),
        default_model=settings.default_model,
        limits=Limits(max_input_chars=settings.max_input_chars, max_piece_chars=settings.max_piece_chars),
        request_id=request_id,
    )


def require_aligner(state: AppState) -> None:
    """Word timestamps (speech or a job's subtitles) need the server's forced aligner."""
    if state.services.settings.aligner_model is None:
        raise InvalidRequest(
            "word timestamps need a forced aligner: set aligner_model on the server",
            param="timestamps",
            code="timestamps_unavailable",
        )


def check_timestamps(state: AppState, stream_mode: str) -> None:
    """Word timestamps need the server's forced aligner and an SSE stream to carry them."""
    require_aligner(state)
    if stream_mode != "sse":
        raise InvalidRequest(
            'timestamps are sent as SSE events: add "stream_format": "sse"', param="timestamps"
        )


@router.post(
    "/v1/audio/speech",
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in SPEECH_CONTENT_TYPES}, "description": "The audio (or SSE events)"},
        **error_responses(429, 503),
    },
)
async def create_speech(body: SpeechRequest, request: Request, state: StateDep, key: CurrentKey) -> Response:
    started_at = time.perf_counter()
    dispatcher = state.services.dispatcher
    voice = await resolve_voice(state, body)
    plan = plan_request(state, body, voice, request_id=request_id_of(request.scope))
    if body.timestamps is not None:
        check_timestamps(state, plan.stream_mode)
    ticket = state.admission.admit(key, queue_depth=dispatcher.queue_depth(), rows=dispatcher.rows())
    try:
        stream = RetryBeforeFirstChunk(dispatcher, plan.job, await dispatcher.submit(plan.job))
    except BaseException:
        ticket.release()
        raise
    return await build_speech_response(
        plan,
        stream,
        request=request,
        ticket=ticket,
        metrics=state.metrics,
        started_at=started_at,
    )
