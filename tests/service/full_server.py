"""The embedded composition (``server.composition.build_embedded_services``: SQLite, local blobs, the voice
library, jobs, API keys) over fake engines, on loopback: for the tests that look at every route."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.settings import Settings
from server.composition import build_embedded_services, open_stores
from tests.service.fake_engine import FakeEngine, fake_request
from tests.service.harness import serve
from voice_store import api_keys
from voice_store.db import session_scope
from web.app import create_app
from workers.engine_host import EngineHost


@dataclass(frozen=True, slots=True)
class FullServer:
    url: str
    token: str  # an API key: once one exists, every /v1 route but the Open WebUI listings needs one

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def full_server(data_dir: Path) -> Iterator[FullServer]:
    engines = {"fake-CustomVoice": FakeEngine("custom_voice"), "fake-Base": FakeEngine("base")}
    settings = Settings(
        data_dir=data_dir,
        models={name: f"/nonexistent/{name}" for name in engines},
        default_model="fake-CustomVoice",
        preload_models=list(engines),
    )
    stores = open_stores(settings)
    with session_scope(stores[0], write=True) as session:
        _, token = api_keys.create_api_key(session=session, name="tests")
    host = EngineHost(
        lambda name: engines[name],
        model_names=list(settings.models),
        preload=settings.preload_models,
        make_request=fake_request,
    )
    with serve(create_app(build_embedded_services(settings, host, stores=stores))) as url:
        assert host.wait_ready(30)
        yield FullServer(url, token)
