"""Model and voice listings in the shapes OpenAI clients and Open WebUI read."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import CurrentKey, StateDep
from web.speech_plan import OPENAI_MODELS

router = APIRouter()


def _model_ids(state: StateDep) -> list[str]:
    return [*OPENAI_MODELS, *(m.name for m in state.services.dispatcher.models())]


@router.get("/v1/models")
async def list_models(state: StateDep, _key: CurrentKey) -> dict[str, object]:
    data = [{"id": i, "object": "model", "created": 0, "owned_by": "qwen3-tts"} for i in _model_ids(state)]
    return {"object": "list", "data": data}


@router.get("/v1/audio/models")
async def list_audio_models(state: StateDep) -> dict[str, object]:
    """Open WebUI: ``{"models": [{"id": ...}]}``; no key needed."""
    return {"models": [{"id": i} for i in _model_ids(state)]}


@router.get("/v1/audio/voices")
async def list_voices(state: StateDep) -> dict[str, object]:
    """Open WebUI: ``{"voices": [{"id": ..., "name": ...}]}``; no key needed."""
    return {"voices": await state.catalog.listing(state.services.dispatcher.models())}
