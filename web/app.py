"""The app factory: ``create_app(services)`` wires routes, error handling, middleware and app state.

No module-level app and no globals: the composition root (``server.composition``) builds the services
(embedded or distributed adapters) and tests build their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from web import (
    catalog,
    health,
    job_actions,
    job_events,
    jobs_routes,
    speech,
    ui,
    voice_consents,
    voice_routes,
)
from web.admission import Admission
from web.deps import AppState, Services
from web.docs_pages import install_docs
from web.errors import install_error_handlers
from web.metrics import Metrics
from web.middleware import RequestContextMiddleware
from web.openapi import install_openapi
from web.realtime import endpoint as realtime
from web.voices import VoiceCatalog, load_aliases


def create_app(services: Services) -> FastAPI:
    settings = services.settings
    metrics = Metrics(queue_depth=services.dispatcher.queue_depth)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.dispatcher.start()
        if services.jobs is not None:
            await asyncio.to_thread(services.jobs.start)
        try:
            yield
        finally:
            if services.jobs is not None:
                await asyncio.to_thread(services.jobs.close)
            await services.dispatcher.close()

    app = FastAPI(title="Qwen3-TTS server", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.tts = AppState(
        services=services,
        metrics=metrics,
        admission=Admission(
            max_streams_per_key=settings.max_streams_per_key,
            max_queue_depth=settings.max_queue_depth,
            retry_after_s=settings.retry_after_s,
            max_queue_wait_s=settings.max_queue_wait_s,
        ),
        catalog=VoiceCatalog(load_aliases(), services.saved_voices),
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for module in (
        speech,
        catalog,
        health,
        voice_routes,
        voice_consents,
        ui,
        jobs_routes,
        job_actions,
        job_events,
    ):
        app.include_router(module.router)
    app.include_router(realtime.router)  # WS /v1/audio/speech/stream
    install_docs(app)  # /docs and /redoc with their scripts served here, not from a CDN
    install_openapi(app)  # the statuses and error envelope the server actually sends
    return app
