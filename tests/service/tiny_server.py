"""The embedded composition as ``qwen3-tts serve --demo`` builds it (SQLite, blob folder, jobs, the engine
host with the clone-prompt cache) over the tiny random-weight CustomVoice, VoiceDesign and Base models, served
on loopback: for the tests that need the real engine end to end (voice cloning, the web pages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import Settings
from server.composition import (
    build_clone_prompts,
    build_embedded_services,
    build_host,
    demo_settings,
    open_stores,
)
from tests.service.harness import serve
from voice_store.blobs import BlobStore
from web.app import create_app
from workers.engine_loading import engine_loader
from workers.voice_prompts import ClonePromptCache


@dataclass(frozen=True, slots=True)
class TinyServer:
    url: str
    prompts: ClonePromptCache
    blobs: BlobStore


@contextmanager
def tiny_server(
    data_dir: Path, *, max_frames: int, timeout_s: float, **settings: Any
) -> Iterator[TinyServer]:
    """``max_frames`` per piece: the random models seldom stop by themselves; ``settings``: e.g. ``jobs``."""
    demo = demo_settings(Settings(data_dir=data_dir, **settings), data_dir / "models")
    demo = demo.model_copy(update={"max_frames_per_piece": max_frames})
    stores = open_stores(demo)
    loader, prompts = build_clone_prompts(demo, *stores, engine_loader(demo))
    host = build_host(demo, loader, clone_prompts=prompts)
    services = build_embedded_services(demo, host, demo=True, stores=stores, prompts=prompts)
    with serve(create_app(services), timeout_s=timeout_s) as url:
        assert host.wait_ready(timeout_s)
        yield TinyServer(url, prompts, stores[1])
