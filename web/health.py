"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from common.errors import Unavailable
from web.deps import MetricsKey, StateDep
from web.errors import error_responses
from web.readiness import dispatcher_check, problem_of

router = APIRouter()


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(state: StateDep) -> dict[str, object]:
    """Ready when every dependency of the request path answers (``web.readiness``); a 503 names each that
    does not and why."""
    dispatcher = state.services.dispatcher
    checks = state.services.readiness or (
        dispatcher_check(dispatcher, name="engine", missing="the engine is still loading or has stopped"),
    )
    problems = await asyncio.gather(*(problem_of(check) for check in checks))
    report = {check.name: problem or "ok" for check, problem in zip(checks, problems, strict=True)}
    if missing := [f"{name}: {problem}" for name, problem in report.items() if problem != "ok"]:
        raise Unavailable("not ready: " + "; ".join(missing))
    return {
        "status": "ready",
        "checks": report,
        "models": [m.name for m in dispatcher.models()],
        "demo": state.services.demo,
    }


@router.get("/metrics")
async def metrics(state: StateDep, _key: MetricsKey) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
