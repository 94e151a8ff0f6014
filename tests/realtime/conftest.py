"""A server with fake engines and a voice library (SQLite + a blob folder), for the protocol tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.settings import RealtimeOptions, Settings
from server.composition import build_clone_prompts, build_voice_library
from tests.service.fake_engine import FakeEngine, fake_request
from tests.service.harness import serve
from tests.voices.fakes import CloningFakeEngine
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema
from web.app import create_app
from web.deps import Services
from web.store_adapters import LibrarySavedVoices
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost

MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FakeServer:
    url: str
    engines: dict[str, FakeEngine]


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    engines: dict[str, FakeEngine] = {
        "fake-CustomVoice": FakeEngine("custom_voice", delay_s=0.005),
        "fake-Base": CloningFakeEngine("base", supports_instruct=False),
        "fake-VoiceDesign": FakeEngine("voice_design"),
        "failing-CustomVoice": FakeEngine("custom_voice", fail_at_chunk=1),
        "slow-CustomVoice": FakeEngine("custom_voice", delay_s=0.08),  # a chunk per 80 ms
    }
    settings = Settings(
        models={name: f"/nonexistent/{name}" for name in engines},
        default_model="fake-CustomVoice",
        preload_models=list(engines),
        realtime=RealtimeOptions(idle_timeout_s=1.0, max_message_bytes=MAX_MESSAGE_BYTES),
    )
    folder = Path(tmp_path_factory.mktemp("realtime"))
    url = sqlite_url(folder / "store.sqlite3")
    upgrade_schema(url)
    sessions = create_session_factory(create_db_engine(url))
    blobs = LocalBlobStore(folder / "blobs")
    loader, prompts = build_clone_prompts(settings, sessions, blobs, lambda name: engines[name])
    host = EngineHost(
        loader,
        model_names=list(settings.models),
        preload=settings.preload_models,
        make_request=fake_request,
        clone_prompts=prompts,
    )
    library = build_voice_library(settings, sessions, blobs, prompts)
    services = Services(
        dispatcher=InProcessDispatcher(host),
        settings=settings,
        saved_voices=LibrarySavedVoices(library),
        voice_library=library,
    )
    with serve(create_app(services)) as base_url:
        assert host.wait_ready(30)
        yield FakeServer(base_url, engines)
