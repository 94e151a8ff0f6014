"""Model and voice listings in the shapes OpenAI clients and Open WebUI read."""

from __future__ import annotations

from fastapi import APIRouter

from common.errors import NotFound
from web.deps import CurrentKey, ListingKey, StateDep
from web.errors import error_responses
from web.speech_plan import OPENAI_MODELS, split_model_name

router = APIRouter()


def _model_ids(state: StateDep) -> list[str]:
    return [*OPENAI_MODELS, *(m.name for m in state.services.dispatcher.models())]


def _model(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "qwen3-tts"}


@router.get("/v1/models")
async def list_models(state: StateDep, _key: CurrentKey) -> dict[str, object]:
    return {"object": "list", "data": [_model(i) for i in _model_ids(state)]}


@router.get("/v1/models/{model_id}", responses=error_responses(404))
async def get_model(model_id: str, state: StateDep, _key: CurrentKey) -> dict[str, object]:
    """One model by the name a speech request may use (a language suffix as in ``tts-1-de`` included)."""
    base, _ = split_model_name(model_id)
    known = {i.lower() for i in _model_ids(state)}
    if model_id.lower() not in known and base.lower() not in known:
        raise NotFound(
            f"model {model_id!r} not found; GET /v1/models lists them", param="model", code="model_not_found"
        )
    return _model(model_id)


@router.get("/v1/audio/models")
async def list_audio_models(state: StateDep, _key: ListingKey) -> dict[str, object]:
    """Open WebUI: ``{"models": [{"id": ...}]}``; a key once keys exist unless ``public_listings``."""
    return {"models": [{"id": i} for i in _model_ids(state)]}


@router.get("/v1/audio/voices")
async def list_voices(state: StateDep, _key: ListingKey) -> dict[str, object]:
    """Open WebUI: ``{"voices": [{"id": ..., "name": ...}]}``; a key once keys exist unless
    ``public_listings``."""
    return {"voices": await state.catalog.listing(state.services.dispatcher.models())}
