"""A voice made under an OpenAI voice consent speaks in async jobs too, named plainly as OpenAI clients name
it: an embedded server (uvicorn on loopback, SQLite, local blobs, the in-process job queue) with the voice
library and jobs, fake engines at the engine boundary. Its own SQLite database: the in-process job queue
resumes every unfinished job of its database, so it must not share one with other tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs.client import wait_for_job
from tests.voices.conftest import Stores, VoiceServer, serve_voice_app, unique
from tests.voices.fakes import recording
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema

TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceServer]:
    folder = Path(tmp_path_factory.mktemp("consent-jobs"))
    url = sqlite_url(folder / "store.sqlite3")
    upgrade_schema(url)
    db = create_db_engine(url)
    stores = Stores("sqlite+local", create_session_factory(db), LocalBlobStore(folder / "blobs"))
    try:
        with serve_voice_app(stores, with_jobs=True) as server:
            yield server
    finally:
        db.dispose()


def test_a_consented_voice_speaks_in_a_job_by_its_plain_name(server: VoiceServer) -> None:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
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
    clone = {"samples": round(2.7 * 24_000), "rate": 24_000, "text": None, "x": True}
    assert clone in server.base_engine.clone_calls
