"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from common.errors import Unavailable
from web.deps import StateDep
from web.errors import error_responses

router = APIRouter()


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(state: StateDep) -> dict[str, object]:
    dispatcher = state.services.dispatcher
    if not await dispatcher.is_ready():
        raise Unavailable("not ready: the engine is still loading or has stopped")
    return {"status": "ready", "models": [m.name for m in dispatcher.models()], "demo": state.services.demo}


@router.get("/metrics")
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
