"""The composition root of the embedded (one-machine) mode: settings → engine host, stores, app, server.

The one module that knows which adapters serve the ports, so the one module that imports every layer (the
import-linter contracts exempt it by name). The engine is imported inside the loader, so importing this
module never imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common.settings import Settings
from web.deps import Services
from web.store_adapters import StoreApiKeys, StoreSavedVoices
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost, JoinPolicy
from workers.engine_loading import engine_loader

log = logging.getLogger(__name__)

DEMO_MODEL_TYPES = {
    "demo-CustomVoice": "custom_voice",
    "demo-VoiceDesign": "voice_design",
    "demo-Base": "base",
}
DEMO_MAX_FRAMES_PER_PIECE = 100  # random weights seldom say "end of speech": cap each piece at 8 s of noise


def demo_settings(settings: Settings, directory: Path) -> Settings:
    """Write the three tiny random-weight checkpoints (once); serve them instead of the configured models."""
    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    models = {}
    for name, model_type in DEMO_MODEL_TYPES.items():
        path = directory / name
        if not (path / "config.json").is_file():
            write_tiny_checkpoint(path, model_type)
        models[name] = str(path)
    log.warning(
        "demo mode: tiny random-weight models; their audio is noise (try every feature, not the voice)"
    )
    return settings.model_copy(
        update={
            "models": models,
            "default_model": "demo-CustomVoice",
            "preload_models": list(models),
            "max_frames_per_piece": min(settings.max_frames_per_piece, DEMO_MAX_FRAMES_PER_PIECE),
        }
    )


def build_host(settings: Settings, loader: Any) -> EngineHost:
    return EngineHost(
        loader,
        model_names=list(settings.models),
        preload=list(dict.fromkeys([settings.default_model, *settings.preload_models])),
        max_frames_per_piece=settings.max_frames_per_piece,
        join=JoinPolicy(pause_ms=settings.seam_pause_ms, fade_ms=settings.seam_fade_ms),
    )


def serve_embedded(settings: Settings, *, demo: bool = False) -> None:
    """Load the models (failing fast with the loader's message), then serve the API until interrupted."""
    import uvicorn

    from web.app import create_app

    if demo:
        settings = demo_settings(settings, settings.resolved_data_dir / "demo-models")
    host = build_host(settings, engine_loader(settings))
    host.start()
    log.info("loading %s on %s", ", ".join(host.preload_models), settings.device)
    host.wait_ready()  # before binding the port: a missing checkpoint is a clear error, not a 503 loop
    app = create_app(build_embedded_services(settings, host, demo=demo))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


def build_embedded_services(settings: Settings, host: EngineHost, *, demo: bool = False) -> Services:
    """SQLite (schema brought to head by Alembic) + the in-process dispatcher over ``host``."""
    from voice_store.db import create_db_engine, create_session_factory, upgrade_schema

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade_schema(url)
    sessions = create_session_factory(create_db_engine(url))
    return Services(
        dispatcher=InProcessDispatcher(host, max_buffered_chunks=settings.max_buffered_chunks),
        settings=settings,
        api_keys=StoreApiKeys(sessions),
        saved_voices=StoreSavedVoices(sessions),
        demo=demo,
    )
