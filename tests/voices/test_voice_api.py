"""The /v1/voices API over real HTTP, in both run modes: create (multipart, JSON), list, get, update, delete,
OpenAI's POST /v1/audio/voices, the listing of saved voices, and what happens to the blobs."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from server.composition import build_voice_library
from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve
from tests.voices.conftest import VoiceServer, fake_settings, unique
from tests.voices.fakes import recording
from voice_store import api_keys
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.errors import VoiceNameTaken
from voice_store.voices import voice_blob_prefix
from web.app import create_app
from web.deps import Services
from web.store_adapters import StoreApiKeys
from workers.embedded import InProcessDispatcher
from workers.engine_host import EngineHost

TIMEOUT = 30


def create(server: VoiceServer, name: str, **fields: object) -> httpx.Response:
    audio = fields.pop("audio", None) or recording(2.0)
    form = {"name": name, **{k: str(v) for k, v in fields.items()}}
    return httpx.post(f"{server.url}/v1/voices", data=form, files={"file": ("a.wav", audio)}, timeout=TIMEOUT)


def blob_keys(server: VoiceServer, voice_id: str) -> list[str]:
    return list(server.stores.blobs.list_keys(voice_blob_prefix(voice_id)))


def test_multipart_create_returns_the_profile_and_stores_both_audio_blobs(voice_server: VoiceServer) -> None:
    name = unique("Ana")
    response = create(voice_server, name, ref_text="Hello there.", language="English")
    assert response.status_code == 201, response.text
    voice = response.json()
    assert voice["name"] == name and voice["voice"] == f"clone:{name}"
    assert (voice["ref_text"], voice["language"], voice["x_vector_only"], voice["version"]) == (
        "Hello there.",
        "english",
        False,
        1,
    )
    assert voice["duration_s"] == pytest.approx(2.0, abs=0.01)
    keys = blob_keys(voice_server, voice["id"])
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["original.wav", "reference.wav"]
    normalized = httpx.get(f"{voice_server.url}/v1/voices/{voice['id']}/audio", timeout=TIMEOUT)
    assert normalized.headers["content-type"] == "audio/wav"
    assert int.from_bytes(normalized.content[24:28], "little") == 24_000  # the WAV's sample rate
    original = httpx.get(f"{voice_server.url}/v1/voices/{voice['id']}/audio?original=true", timeout=TIMEOUT)
    assert original.content == recording(2.0)


def test_json_create_with_base64_audio_and_no_transcript_is_x_vector_only(voice_server: VoiceServer) -> None:
    body = {"name": unique("Json"), "audio": base64.b64encode(recording(1.5, fmt="flac")).decode()}
    response = httpx.post(f"{voice_server.url}/v1/voices", json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    voice = response.json()
    assert (voice["x_vector_only"], voice["ref_text"], voice["original_content_type"]) == (
        True,
        None,
        "audio/flac",
    )


def test_names_are_unique_case_insensitively_and_a_clash_leaves_no_blobs(voice_server: VoiceServer) -> None:
    name = unique("Clash")
    assert create(voice_server, name, ref_text="x").status_code == 201
    before = set(voice_server.stores.blobs.list_keys("voices/"))
    response = create(voice_server, name.upper(), ref_text="y")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "voice_name_taken"
    assert set(voice_server.stores.blobs.list_keys("voices/")) == before


def test_a_clash_found_only_at_commit_deletes_the_blobs_it_wrote(voice_server: VoiceServer) -> None:
    """The race the early name check cannot see: the unique index decides, and the new blobs go."""
    library = voice_server.library
    name = unique("Race")
    library.create(name=name, audio=library.ingest(recording(1.5)), ref_text="a")
    before = set(voice_server.stores.blobs.list_keys("voices/"))
    with pytest.raises(VoiceNameTaken):
        library.create(name=name.lower(), audio=library.ingest(recording(1.5, frequency=700)), ref_text="b")
    assert set(voice_server.stores.blobs.list_keys("voices/")) == before


def test_list_pages_by_name_and_filters(voice_server: VoiceServer) -> None:
    prefix = unique("Page")
    names = [f"{prefix}-{letter}" for letter in "cab"]
    for name in names:
        assert create(voice_server, name, ref_text="t").status_code == 201
    first = httpx.get(
        f"{voice_server.url}/v1/voices", params={"name": prefix, "limit": 2}, timeout=TIMEOUT
    ).json()
    assert [v["name"] for v in first["data"]] == sorted(names)[:2] and first["has_more"]
    second = httpx.get(
        f"{voice_server.url}/v1/voices",
        params={"name": prefix.lower(), "limit": 2, "after": first["next_cursor"]},
        timeout=TIMEOUT,
    ).json()
    assert [v["name"] for v in second["data"]] == sorted(names)[2:]
    assert second["next_cursor"] is None and not second["has_more"]


def test_patch_renames_without_a_new_version_and_a_new_transcript_starts_one(
    voice_server: VoiceServer,
) -> None:
    voice = create(voice_server, unique("Patch"), ref_text="one").json()
    url = f"{voice_server.url}/v1/voices/{voice['id']}"
    renamed = httpx.patch(url, json={"name": unique("Renamed")}, timeout=TIMEOUT).json()
    assert renamed["version"] == 1 and renamed["name"] != voice["name"]
    retext = httpx.patch(url, json={"ref_text": "two", "language": "german"}, timeout=TIMEOUT).json()
    assert (retext["version"], retext["ref_text"], retext["language"]) == (2, "two", "german")
    assert httpx.get(url, timeout=TIMEOUT).json() == retext


def test_patch_with_new_audio_starts_a_version_and_deletes_the_old_audio(voice_server: VoiceServer) -> None:
    voice = create(voice_server, unique("Reaudio"), ref_text="one").json()
    old_keys = set(blob_keys(voice_server, voice["id"]))
    response = httpx.patch(
        f"{voice_server.url}/v1/voices/{voice['id']}",
        files={"file": ("b.mp3", recording(3.0, fmt="mp3", frequency=500))},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2 and updated["duration_s"] == pytest.approx(3.0, abs=0.1)
    new_keys = set(blob_keys(voice_server, voice["id"]))
    assert new_keys.isdisjoint(old_keys) and len(new_keys) == 2
    as_json = httpx.patch(
        f"{voice_server.url}/v1/voices/{voice['id']}",
        json={"audio": base64.b64encode(recording(2.5, fmt="webm")).decode()},
        timeout=TIMEOUT,
    ).json()
    assert (as_json["version"], as_json["original_content_type"]) == (3, "audio/webm")
    assert set(blob_keys(voice_server, voice["id"])).isdisjoint(new_keys)


def test_delete_removes_the_profile_its_blobs_and_its_cached_prompts(voice_server: VoiceServer) -> None:
    name = unique("Gone")
    voice = create(voice_server, name, ref_text="Some words.").json()
    speech = httpx.post(
        f"{voice_server.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": f"clone:{name}", "input": "Hi", "response_format": "pcm"},
        timeout=TIMEOUT,
    )
    assert speech.status_code == 200, speech.text
    assert any(key.endswith(".npz") for key in blob_keys(voice_server, voice["id"]))
    deleted = httpx.delete(f"{voice_server.url}/v1/voices/{voice['id']}", timeout=TIMEOUT)
    assert deleted.json() == {"id": voice["id"], "object": "voice.deleted", "deleted": True}
    assert blob_keys(voice_server, voice["id"]) == []
    assert all(key[0] != voice["id"] for key in voice_server.prompts._lru)
    again = httpx.get(f"{voice_server.url}/v1/voices/{voice['id']}", timeout=TIMEOUT)
    assert again.status_code == 404 and again.json()["error"]["code"] == "voice_not_found"
    gone = httpx.post(
        f"{voice_server.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": f"clone:{name}", "input": "Hi"},
        timeout=TIMEOUT,
    )
    assert gone.status_code == 400 and gone.json()["error"]["code"] == "voice_not_found"  # any unknown voice


def test_openai_create_voice_maps_onto_the_same_store_and_is_listed(voice_server: VoiceServer) -> None:
    name = unique("Oai")
    consent = httpx.post(
        f"{voice_server.url}/v1/audio/voice_consents",
        data={"name": "Speaker", "language": "en-US"},
        files={"recording": ("c.wav", recording(1.5), "audio/wav")},
        timeout=TIMEOUT,
    ).json()
    response = httpx.post(
        f"{voice_server.url}/v1/audio/voices",
        data={"name": name, "consent": consent["id"]},
        files={"audio_sample": ("s.m4a", recording(2.0, fmt="m4a"), "audio/mp4")},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["object"] == "audio.voice" and created["name"] == name
    assert httpx.get(f"{voice_server.url}/v1/voices/{created['id']}", timeout=TIMEOUT).json()["name"] == name
    listing = httpx.get(f"{voice_server.url}/v1/audio/voices", timeout=TIMEOUT).json()["voices"]
    ids = [v["id"] for v in listing]
    assert f"clone:{name}" in ids and "Vivian" in ids  # saved voices next to the built-in speakers


def test_voice_routes_need_an_api_key_once_one_exists(tmp_path: Path) -> None:
    """Its own SQLite database: an active key must not leak into the shared test databases."""
    url = sqlite_url(tmp_path / "keys.sqlite3")
    upgrade_schema(url)
    sessions = create_session_factory(create_db_engine(url))
    with session_scope(sessions) as session:
        _, token = api_keys.create_api_key(session=session, name="ui")
    settings = fake_settings()
    host = EngineHost(lambda name: FakeEngine("custom_voice"), model_names=["fake-CustomVoice"])
    services = Services(
        dispatcher=InProcessDispatcher(host),
        settings=settings.model_copy(update={"models": {"fake-CustomVoice": "/x"}, "preload_models": []}),
        api_keys=StoreApiKeys(sessions),
        voice_library=build_voice_library(settings, sessions, LocalBlobStore(tmp_path / "blobs")),
    )
    with serve(create_app(services)) as base:
        for method, path in (("GET", "/v1/voices"), ("POST", "/v1/voices"), ("POST", "/v1/audio/voices")):
            response = httpx.request(method, f"{base}{path}", timeout=TIMEOUT)
            assert response.status_code == 401, (method, path)
        authorized = httpx.get(
            f"{base}/v1/voices", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )
        assert authorized.status_code == 200 and authorized.json()["data"] == []
        assert httpx.get(f"{base}/ui", timeout=TIMEOUT).status_code == 200  # the page itself is public
