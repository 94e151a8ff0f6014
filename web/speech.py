"""``POST /v1/audio/speech``: parse → plan → admit → dispatch → respond."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from web.audio_response import build_speech_response
from web.deps import CurrentKey, StateDep
from web.errors import error_responses
from web.inline_voice import inline_voice
from web.middleware import request_id_of
from web.schemas import SpeechRequest
from web.speech_plan import Limits, plan_speech

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
    settings, dispatcher = state.services.settings, state.services.dispatcher
    if body.voice is not None:
        voice = await state.catalog.resolve(body.voice)
    else:
        voice = await inline_voice(state.services.voice_library, body)
    plan = plan_speech(
        body,
        voice,
        models=dispatcher.models(),
        default_model=settings.default_model,
        limits=Limits(max_input_chars=settings.max_input_chars, max_piece_chars=settings.max_piece_chars),
        request_id=request_id_of(request.scope),
    )
    ticket = state.admission.admit(key, queue_depth=dispatcher.queue_depth())
    try:
        stream = await dispatcher.submit(plan.job)
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
