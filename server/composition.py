"""The composition root: settings → the adapters behind the web ports, the app and the server, per run mode
(embedded: engine host thread, SQLite, local blobs; distributed: Celery dispatcher, Postgres, S3).

The one module that knows which adapters serve the ports, so it imports every layer; it lives in
``server/``, above all of them, and nothing imports it back (import-linter contracts in pyproject.toml). The
engine is imported inside the loader, so importing this module never imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.settings import Settings
from common.stores import build_blob_store
from common.voice_library import VoiceLibrary
from voice_store.blobs import BlobStore
from web.deps import Services
from web.readiness import ReadinessCheck, database_check, dispatcher_check
from web.store_adapters import LibrarySavedVoices, StoreApiKeys
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost
from workers.engine_loading import engine_loader
from workers.engine_port import ClonePromptProvider, JoinPolicy, no_saved_voices
from workers.jobs.alignment import worker_aligner
from workers.jobs.wiring import embedded_job_service
from workers.voice_prompts import ClonePromptCache, ModelKeys

log = logging.getLogger(__name__)

DEMO_MODEL_TYPES = {
    "demo-CustomVoice": "custom_voice",
    "demo-VoiceDesign": "voice_design",
    "demo-Base": "base",
}
DEMO_ALIGNER = "demo-ForcedAligner"  # word timings of the demo models' noise: well-formed, not meaningful
DEMO_MAX_FRAMES_PER_PIECE = 100  # random weights seldom say "end of speech": cap each piece at 8 s of noise


def demo_settings(settings: Settings, directory: Path) -> Settings:
    """Write the three tiny random-weight checkpoints and a tiny forced aligner (once); serve them instead of
    the configured models."""
    from qwen_tts.aligner.tiny_checkpoint import write_tiny_aligner
    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    models = {}
    for name, model_type in DEMO_MODEL_TYPES.items():
        path = directory / name
        if not (path / "config.json").is_file():
            write_tiny_checkpoint(path, model_type)
        models[name] = str(path)
    aligner = directory / DEMO_ALIGNER
    if not (aligner / "config.json").is_file():
        write_tiny_aligner(aligner)
    log.warning(
        "demo mode: tiny random-weight models; their audio is noise (try every feature, not the voice)"
    )
    return settings.model_copy(
        update={
            "models": models,
            "default_model": "demo-CustomVoice",
            "preload_models": list(models),
            "aligner_model": str(aligner),
            "max_frames_per_piece": min(settings.max_frames_per_piece, DEMO_MAX_FRAMES_PER_PIECE),
        }
    )


def resident_models(settings: Settings) -> list[str]:
    """The models loaded at start and kept resident: the default model and ``preload_models``; with no
    ``preload_models`` set, a CustomVoice default brings its Base counterpart of the same size (when it is in
    the models map), so ``clone:`` voices switch model without a load, as the original server did."""
    names = [settings.default_model, *settings.preload_models]
    size, _, variant = settings.default_model.partition("-")
    if not settings.preload_models and variant == "CustomVoice" and f"{size}-Base" in settings.models:
        names.append(f"{size}-Base")
    return list(dict.fromkeys(names))


def build_host(
    settings: Settings, loader: Any, *, clone_prompts: ClonePromptProvider = no_saved_voices
) -> EngineHost:
    return EngineHost(
        loader,
        model_names=list(settings.models),
        preload=resident_models(settings),
        clone_prompts=clone_prompts,
        max_frames_per_piece=settings.max_frames_per_piece,
        join=JoinPolicy.of(settings),
        aligner=worker_aligner(settings.aligner_model, settings.device),
    )


def _log_binding(settings: Settings) -> None:
    """Say at start who can reach the server: loopback only by default, every interface when told."""
    reach = "this machine only" if settings.host in ("127.0.0.1", "localhost", "::1") else "the network"
    log.info(
        "listening on %s:%d (reachable from %s; set --host or QWEN_TTS_HOST to change)",
        settings.host,
        settings.port,
        reach,
    )


def serve_embedded(settings: Settings, *, demo: bool = False) -> None:
    """Load the models (failing fast with the loader's message), then serve the API until interrupted."""
    import uvicorn

    from web.app import create_app

    if demo:
        settings = demo_settings(settings, settings.resolved_data_dir / "demo-models")
    stores = open_stores(settings)
    loader, prompts = build_clone_prompts(settings, *stores, engine_loader(settings))
    host = build_host(settings, loader, clone_prompts=prompts)
    host.start()
    log.info("loading %s on %s", ", ".join(host.preload_models), settings.device)
    host.wait_ready()  # before binding the port: a missing checkpoint is a clear error, not a 503 loop
    app = create_app(build_embedded_services(settings, host, demo=demo, stores=stores, prompts=prompts))
    _log_binding(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


Stores = tuple[sessionmaker[Session], BlobStore]


def open_stores(settings: Settings) -> Stores:
    """The database (schema brought to head by Alembic) and the blob store the settings name."""
    from voice_store.db import create_db_engine, create_session_factory, upgrade_schema

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade_schema(url)
    return create_session_factory(create_db_engine(url)), build_blob_store(settings)


def build_clone_prompts(
    settings: Settings, sessions: sessionmaker[Session], blobs: BlobStore, loader: Any
) -> tuple[Any, ClonePromptCache]:
    """The saved voices' clone-prompt cache, and ``loader`` wrapped so the cache can name each model."""
    keys = ModelKeys(settings.models)
    return keys.track(loader), ClonePromptCache(sessions=sessions, blobs=blobs, model_key=keys)


def build_voice_library(
    settings: Settings, sessions: sessionmaker[Session], blobs: BlobStore, prompts: Any = None
) -> VoiceLibrary:
    """``prompts``: this process's ``ClonePromptCache``, told at once when a voice changes."""
    forget = prompts.forget if prompts is not None else (lambda voice_id: None)
    return VoiceLibrary(sessions=sessions, blobs=blobs, on_change=forget)


def build_embedded_services(
    settings: Settings,
    host: EngineHost,
    *,
    demo: bool = False,
    stores: Stores | None = None,
    prompts: ClonePromptCache | None = None,
) -> Services:
    """The in-process dispatcher over ``host``, with the SQLite/blob ``stores`` (opened here if not given)."""
    sessions, blobs = stores or open_stores(settings)
    library = build_voice_library(settings, sessions, blobs, prompts)
    dispatcher = InProcessDispatcher(
        host, max_buffered_chunks=settings.max_buffered_chunks, rows=settings.optimization.max_batch_size
    )
    engine = dispatcher_check(dispatcher, name="engine", missing="the engine is still loading or has stopped")
    return Services(
        dispatcher=dispatcher,
        settings=settings,
        readiness=(database_check(sessions), engine),
        api_keys=StoreApiKeys(sessions),
        saved_voices=LibrarySavedVoices(library),
        voice_library=library,
        jobs=embedded_job_service(settings, host, sessions, blobs),
        demo=demo,
    )


def serve_distributed(settings: Settings, *, demo: bool = False) -> None:
    """The API process of the distributed mode: Celery dispatcher, Redis chunk streams, Postgres, S3.

    The schema must be at head (``qwen3-tts db upgrade``, run once per deploy); the models are in the workers.
    """
    import uvicorn

    from web.app import create_app

    app = create_app(build_distributed_services(settings, demo=demo))
    _log_binding(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


def build_distributed_services(settings: Settings, *, demo: bool = False) -> Services:
    from voice_store.db import check_schema_current, create_db_engine, create_session_factory
    from workers.celery_app import create_celery_app
    from workers.dispatcher import CeleryDispatcher
    from workers.jobs.wiring import distributed_job_service

    engine = create_db_engine(settings.resolved_database_url)
    check_schema_current(engine)  # a clear "run qwen3-tts db upgrade" instead of failing queries
    sessions = create_session_factory(engine)
    blobs = build_blob_store(settings)
    celery_app = create_celery_app(settings)  # requests and jobs share it; the dispatcher closes it
    library = build_voice_library(settings, sessions, blobs)
    dispatcher = CeleryDispatcher.from_settings(settings, celery_app)
    workers = dispatcher_check(
        dispatcher,
        name="workers",
        missing="no live worker answered (start one: qwen3-tts worker --gpu N --models ..., or --demo)",
    )
    return Services(
        dispatcher=dispatcher,
        settings=settings,
        readiness=(database_check(sessions), ReadinessCheck("redis", dispatcher.ping), workers),
        demo=demo,
        api_keys=StoreApiKeys(sessions),
        saved_voices=LibrarySavedVoices(library),
        voice_library=library,
        jobs=distributed_job_service(settings, celery_app, sessions, blobs),
    )
