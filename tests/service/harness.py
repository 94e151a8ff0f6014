"""Real HTTP for the service tests: an app built from services, served by uvicorn on a loopback port."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import uvicorn
from fastapi import FastAPI

from common.settings import Settings
from tests.fixtures.net import free_port, wait_for_http
from tests.service.fake_engine import FakeEngine, fake_request
from web.app import create_app
from web.deps import Services
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost
from workers.engine_port import JoinPolicy


def fake_settings(engines: Mapping[str, FakeEngine], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models": {name: f"/nonexistent/{name}" for name in engines},
        "default_model": next(iter(engines)),
        "preload_models": list(engines),
    }
    return Settings(**(values | overrides))


def fake_services(engines: Mapping[str, FakeEngine], **overrides: Any) -> Services:
    settings = fake_settings(engines, **{k: v for k, v in overrides.items() if k in Settings.model_fields})
    host = EngineHost(
        lambda name: engines[name],
        model_names=list(settings.models),
        preload=settings.preload_models,
        make_request=fake_request,
        max_frames_per_piece=settings.max_frames_per_piece,
        join=JoinPolicy.of(settings),
    )
    dispatcher = InProcessDispatcher(host, max_buffered_chunks=settings.max_buffered_chunks)
    extra = {k: v for k, v in overrides.items() if k not in Settings.model_fields}
    return Services(dispatcher=dispatcher, settings=settings, **extra)


@contextlib.contextmanager
def serve(app: FastAPI, *, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields the base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base_url}/livez", timeout_s=timeout_s, is_alive=thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


@contextlib.contextmanager
def serve_fakes(engines: Mapping[str, FakeEngine], **overrides: Any) -> Iterator[str]:
    with serve(create_app(fake_services(engines, **overrides))) as base_url:
        yield base_url
