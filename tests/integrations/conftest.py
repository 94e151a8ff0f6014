"""The demo server for the integration tests: the tiny real engine (random weights, real layout), the
embedded composition with its SQLite voice library, uvicorn on loopback; and one saved voice to clone."""

from __future__ import annotations

import importlib
import io
import os
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from common.settings import Settings
from server.composition import (
    DEMO_MODEL_TYPES,
    build_clone_prompts,
    build_embedded_services,
    build_host,
    engine_loader,
    open_stores,
)
from tests.fixtures.availability import REQUIRE_SERVICES_VARIABLE
from tests.service.harness import serve
from web.app import create_app

pytest.importorskip("qwen_tts.tiny_checkpoint", reason="the tiny checkpoint writer has not landed yet")

SAMPLE_RATE = 24_000
SAMPLES_PER_FRAME = 1920
MAX_FRAMES_PER_PIECE = 24  # 4-frame chunks: a few chunks per piece, a short test
SAVED_VOICE = "Integration Voice"


def require(module: str) -> ModuleType:
    """Import an integration library: when it is missing, skip locally but fail in CI (where
    QTTS_REQUIRE_SERVICES=1 and the ``examples`` extra is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        reason = f"{module} is not installed: pip install -e '.[examples]' ({e})"
        if os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1":
            raise ImportError(f"{reason}; {REQUIRE_SERVICES_VARIABLE}=1 makes this a failure") from e
        pytest.skip(reason, allow_module_level=True)


@dataclass(frozen=True, slots=True)
class DemoServer:
    url: str  # http://127.0.0.1:PORT (the OpenAI base URL is url + "/v1")
    saved_voice: str  # "clone:<name>" of a voice saved through /v1/voices
    is_synthesizing: Callable[[], bool]  # whether the engine still has a request to finish

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def reference_wav(seconds: float = 2.0) -> bytes:
    """A 24 kHz s16le mono WAV of a gliding tone (the reference audio of the saved voice)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pcm = (0.4 * np.sin(2 * np.pi * (220 + 60 * t) * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """What ``qwen3-tts serve --demo`` runs (``server.composition.serve_embedded``), served in a thread; its
    CustomVoice and Base models only (no client here uses VoiceDesign, and each model costs seconds)."""
    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    data_dir = Path(tmp_path_factory.mktemp("integrations"))
    models = {}
    for name in ("demo-CustomVoice", "demo-Base"):
        write_tiny_checkpoint(data_dir / name, DEMO_MODEL_TYPES[name])
        models[name] = str(data_dir / name)
    settings = Settings(
        data_dir=data_dir,
        models=models,
        default_model="demo-CustomVoice",
        preload_models=list(models),
        max_frames_per_piece=MAX_FRAMES_PER_PIECE,
    )
    stores = open_stores(settings)
    loader, prompts = build_clone_prompts(settings, *stores, engine_loader(settings))
    host = build_host(settings, loader, clone_prompts=prompts)
    services = build_embedded_services(settings, host, demo=True, stores=stores, prompts=prompts)
    with serve(create_app(services), timeout_s=120) as url:
        assert host.wait_ready(120), "the demo models did not load"
        created = httpx.post(
            f"{url}/v1/voices",
            data={"name": SAVED_VOICE, "ref_text": "A reference recording.", "language": "English"},
            files={"file": ("reference.wav", reference_wav(), "audio/wav")},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        yield DemoServer(
            url=url, saved_voice=created.json()["voice"], is_synthesizing=lambda: host.queue_depth() > 0
        )
