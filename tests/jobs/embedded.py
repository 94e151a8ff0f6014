"""An embedded server with jobs over fake engines: SQLite (Alembic), local blobs, the in-process queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.audio.whole import encode_file
from common.settings import Settings
from tests.service.fake_engine import FakeEngine, fake_request
from tests.service.harness import serve
from voice_store.blobs import BlobStore, LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema
from web.app import create_app
from web.deps import Services
from web.store_adapters import StoreApiKeys
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost
from workers.engine_port import JoinPolicy
from workers.jobs.finalize import EncodeFile
from workers.jobs.wiring import embedded_job_service

TEST_JOBS = {
    "segment_chars": 64,
    "webhook_allow_private": True,
    "webhook_timeout_s": 1.0,
    "webhook_retry_schedule_s": (0.2, 0.2, 0.2),
    "webhook_retry_jitter": 0.1,
    "relay_poll_s": 0.1,
    "chapter_pause_ms": 200.0,
    "finalize_retry_delay_s": 0.05,
}


@dataclass
class EmbeddedServer:
    url: str
    sessions: sessionmaker[Session]
    blobs: LocalBlobStore
    settings: Settings


def job_settings(data_dir: Path, engines: Mapping[str, FakeEngine], **jobs: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        models={name: f"/nonexistent/{name}" for name in engines},
        default_model=next(iter(engines)),
        preload_models=list(engines),
        jobs=TEST_JOBS | jobs,
    )


@contextmanager
def embedded_server(
    data_dir: Path,
    engines: Mapping[str, FakeEngine],
    *,
    encode: EncodeFile = encode_file,
    wrap_blobs: Callable[[BlobStore], BlobStore] = lambda blobs: blobs,
    with_api_keys: bool = False,
    **jobs: Any,
) -> Iterator[EmbeddedServer]:
    """Serve the API with jobs; a second server on the same ``data_dir`` resumes the first one's jobs.

    ``encode`` and ``wrap_blobs`` are the jobs' encoder and blob store seams (the tests' faults go there);
    ``with_api_keys``: the keys in its database guard the API (once one exists)."""
    settings = job_settings(data_dir, engines, **jobs)
    url = sqlite_url(data_dir / "store.sqlite3")
    upgrade_schema(url)
    db = create_db_engine(url)
    sessions = create_session_factory(db)
    blobs = LocalBlobStore(data_dir / "blobs")
    host = EngineHost(
        lambda name: engines[name],
        model_names=list(settings.models),
        preload=settings.preload_models,
        make_request=fake_request,
        join=JoinPolicy.of(settings),
    )
    services = Services(
        dispatcher=InProcessDispatcher(host),
        settings=settings,
        jobs=embedded_job_service(settings, host, sessions, wrap_blobs(blobs), encode=encode),
        **({"api_keys": StoreApiKeys(sessions)} if with_api_keys else {}),
    )
    try:
        with serve(create_app(services)) as base_url:
            assert host.wait_ready(30)
            yield EmbeddedServer(base_url, sessions, blobs, settings)
    finally:
        db.dispose()
