"""Voice library fixtures. Every test that uses ``voice_server`` or ``stores`` runs in both run modes:
SQLite + a local blob folder (embedded) and Postgres + S3 on a moto server (distributed)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.settings import Settings
from common.voice_library import VoiceLibrary
from server.composition import build_clone_prompts, build_voice_library
from tests.fixtures.postgres import migrated_postgres_url, postgres_url  # noqa: F401
from tests.fixtures.s3_server import MotoServer, moto_server  # noqa: F401
from tests.service.fake_engine import FakeEngine, fake_request
from tests.service.harness import serve
from tests.voices.fakes import CloningFakeEngine
from voice_store.blobs import BlobStore, LocalBlobStore, S3BlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema
from web.app import create_app
from web.deps import Services
from web.store_adapters import LibrarySavedVoices
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost
from workers.jobs.wiring import embedded_job_service
from workers.voice_prompts import ClonePromptCache

MODES = ["sqlite+local", "postgres+s3"]


@dataclass(frozen=True, slots=True)
class Stores:
    mode: str
    sessions: sessionmaker[Session]
    blobs: BlobStore


@dataclass(frozen=True, slots=True)
class VoiceServer:
    url: str
    stores: Stores
    library: VoiceLibrary
    prompts: ClonePromptCache
    engines: dict[str, FakeEngine]

    @property
    def base_engine(self) -> CloningFakeEngine:
        engine = self.engines["fake-Base"]
        assert isinstance(engine, CloningFakeEngine)
        return engine


def unique(name: str) -> str:
    """Tests share a database per mode: names carry a random suffix."""
    return f"{name}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module", params=MODES)
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    if request.param == "sqlite+local":
        folder = Path(tmp_path_factory.mktemp("voices"))
        url = sqlite_url(folder / "voices.sqlite3")
        upgrade_schema(url)
        blobs: BlobStore = LocalBlobStore(folder / "blobs")
    else:
        url = request.getfixturevalue("migrated_postgres_url")
        server: MotoServer = request.getfixturevalue("moto_server")
        bucket = f"voices-{secrets.token_hex(6)}"
        server.client().create_bucket(Bucket=bucket)
        blobs = S3BlobStore(
            bucket=bucket,
            endpoint_url=server.endpoint_url,
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
    engine = create_db_engine(url)
    yield Stores(request.param, create_session_factory(engine), blobs)
    engine.dispose()


def fake_settings() -> Settings:
    names = ("fake-CustomVoice", "fake-Base")
    return Settings(
        models={name: f"/nonexistent/{name}" for name in names},
        default_model="fake-CustomVoice",
        preload_models=list(names),
    )


@contextmanager
def serve_voice_app(stores: Stores, *, with_jobs: bool = False) -> Iterator[VoiceServer]:
    """The app with fake engines, the voice library and the clone-prompt cache (and jobs), on loopback."""
    engines: dict[str, FakeEngine] = {
        "fake-CustomVoice": FakeEngine("custom_voice"),
        "fake-Base": CloningFakeEngine("base", supports_instruct=False),
    }
    settings = fake_settings()
    loader, prompts = build_clone_prompts(settings, stores.sessions, stores.blobs, lambda name: engines[name])
    host = EngineHost(
        loader,
        model_names=list(settings.models),
        preload=settings.preload_models,
        make_request=fake_request,
        clone_prompts=prompts,
    )
    library = build_voice_library(settings, stores.sessions, stores.blobs, prompts)
    services = Services(
        dispatcher=InProcessDispatcher(host),
        settings=settings,
        saved_voices=LibrarySavedVoices(library),
        voice_library=library,
        jobs=embedded_job_service(settings, host, stores.sessions, stores.blobs) if with_jobs else None,
    )
    with serve(create_app(services)) as url:
        assert host.wait_ready(30)
        yield VoiceServer(url, stores, library, prompts, engines)


@pytest.fixture(scope="module")
def voice_server(stores: Stores) -> Iterator[VoiceServer]:
    with serve_voice_app(stores) as server:
        yield server
