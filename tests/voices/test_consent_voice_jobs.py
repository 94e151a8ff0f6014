"""A voice made under an OpenAI voice consent speaks in async jobs too, named plainly as OpenAI clients name
it: an embedded server (uvicorn on loopback, SQLite, local blobs, the in-process job queue) with the voice
library and jobs, fake engines at the engine boundary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.composition import build_clone_prompts, build_voice_library
from tests.jobs.client import wait_for_job
from tests.service.fake_engine import FakeEngine, fake_request
from tests.service.harness import serve
from tests.voices.conftest import fake_settings, unique
from tests.voices.fakes import CloningFakeEngine, recording
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema
from web.app import create_app
from web.deps import Services
from web.store_adapters import LibrarySavedVoices
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost
from workers.jobs.wiring import embedded_job_service

TIMEOUT = 30


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CloningFakeEngine]]:
    folder = Path(tmp_path_factory.mktemp("consent-jobs"))
    url = sqlite_url(folder / "store.sqlite3")
    upgrade_schema(url)
    db = create_db_engine(url)
    sessions, blobs = create_session_factory(db), LocalBlobStore(folder / "blobs")
    base = CloningFakeEngine("base", supports_instruct=False)
    engines: dict[str, FakeEngine] = {"fake-CustomVoice": FakeEngine("custom_voice"), "fake-Base": base}
    settings = fake_settings()
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
        jobs=embedded_job_service(settings, host, sessions, blobs),
    )
    try:
        with serve(create_app(services)) as base_url:
            assert host.wait_ready(30)
            yield base_url, base
    finally:
        db.dispose()


def test_a_consented_voice_speaks_in_a_job_by_its_plain_name(served: tuple[str, CloningFakeEngine]) -> None:
    url, base = served
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        consent = client.post(
            "/v1/audio/voice_consents",
            data={"name": "Speaker", "language": "de-DE"},
            files={"recording": ("c.ogg", recording(1.5, fmt="ogg"), "audio/ogg")},
        ).json()
        name = unique("Narrator")
        voice = client.post(
            "/v1/audio/voices",
            data={"name": name, "consent": consent["id"]},
            files={"audio_sample": ("s.wav", recording(2.7), "audio/wav")},
        ).json()
        for ref in (name, {"id": voice["id"]}):
            submitted = client.post("/v1/jobs", json={"voice": ref, "input": "A job in a custom voice."})
            assert submitted.status_code == 202, submitted.text
            job = wait_for_job(client, submitted.json()["id"])
            assert job["status"] == "succeeded", job
            assert job["model"] == "fake-Base"  # a cloned voice runs on the Base model
        assert {"samples": round(2.7 * 24_000), "rate": 24_000, "text": None, "x": True} in base.clone_calls
