"""OpenAI's custom-voice flow over real HTTP, in both run modes (SQLite + local blobs, Postgres + S3 on moto):
``/v1/audio/voice_consents`` CRUD and pagination, ``POST /v1/audio/voices`` under a consent, and speech with
that voice named the ways OpenAI clients name it (plain name, ``{"id": ...}``) and ``clone:Name``."""

from __future__ import annotations

import httpx

from tests.voices.conftest import VoiceServer, unique
from tests.voices.fakes import recording
from voice_store.voice_consents import consent_blob_prefix

TIMEOUT = 30
CONSENT_KEYS = {"id", "object", "name", "language", "created_at"}


def create_consent(
    server: VoiceServer, name: str, language: str = "en-US", **files: object
) -> httpx.Response:
    upload = files or {"recording": ("consent.wav", recording(1.5), "audio/x-wav")}
    return httpx.post(
        f"{server.url}/v1/audio/voice_consents",
        data={"name": name, "language": language},
        files=upload,
        timeout=TIMEOUT,
    )


def create_voice(server: VoiceServer, name: str, consent: str, seconds: float = 2.0) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/audio/voices",
        data={"name": name, "consent": consent},
        files={"audio_sample": ("sample.mp3", recording(seconds, fmt="mp3"), "audio/mpeg")},
        timeout=TIMEOUT,
    )


def error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


def test_consents_are_created_read_renamed_and_deleted(voice_server: VoiceServer) -> None:
    name = unique("John Doe")
    created = create_consent(voice_server, name)
    assert created.status_code == 200, created.text
    consent = created.json()
    assert set(consent) == CONSENT_KEYS and consent["object"] == "audio.voice_consent"
    assert consent["id"].startswith("cons_") and consent["language"] == "en-US" and consent["name"] == name
    url = f"{voice_server.url}/v1/audio/voice_consents/{consent['id']}"
    assert httpx.get(url, timeout=TIMEOUT).json() == consent
    stored = list(voice_server.stores.blobs.list_keys(consent_blob_prefix(consent["id"])))
    assert len(stored) == 1 and stored[0].endswith("recording.wav")
    assert httpx.get(f"{url}/recording", timeout=TIMEOUT).content[:4] == b"RIFF"  # kept as uploaded
    renamed = httpx.post(url, json={"name": "Jane Doe"}, timeout=TIMEOUT).json()
    assert renamed == consent | {"name": "Jane Doe"}
    deleted = httpx.delete(url, timeout=TIMEOUT).json()
    assert deleted == {"id": consent["id"], "object": "audio.voice_consent", "deleted": True}
    assert error(httpx.get(url, timeout=TIMEOUT), 404)["code"] == "consent_not_found"
    assert list(voice_server.stores.blobs.list_keys(consent_blob_prefix(consent["id"]))) == []


def test_the_list_pages_with_after_limit_first_and_last_id(voice_server: VoiceServer) -> None:
    ids = [create_consent(voice_server, unique("Page")).json()["id"] for _ in range(5)]
    base = f"{voice_server.url}/v1/audio/voice_consents"
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = httpx.get(base, params=params, timeout=TIMEOUT).json()
        assert page["object"] == "list" and len(page["data"]) <= 2
        page_ids = [c["id"] for c in page["data"]]
        assert (page["first_id"], page["last_id"]) == (page_ids[0], page_ids[-1])
        seen += page_ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == sorted(seen, reverse=True)  # newest first
    assert [i for i in seen if i in ids] == ids[::-1]
    assert len(seen) == len(set(seen))


def test_a_voice_made_under_a_consent_speaks_by_name_by_id_and_as_clone(voice_server: VoiceServer) -> None:
    consent = create_consent(voice_server, unique("Speaker")).json()
    name = unique("Custom")
    response = create_voice(voice_server, name, consent["id"], seconds=2.3)
    assert response.status_code == 201, response.text
    voice = response.json()
    assert set(voice) == {"id", "object", "name", "created_at"}
    assert voice["object"] == "audio.voice" and voice["id"].startswith("voice_") and voice["name"] == name
    engine = voice_server.base_engine
    for ref in (name, {"id": voice["id"]}, f"clone:{name}", name.upper()):
        speech = httpx.post(
            f"{voice_server.url}/v1/audio/speech",
            json={"model": "tts-1", "voice": ref, "input": "Hello there.", "response_format": "wav"},
            timeout=TIMEOUT,
        )
        assert speech.status_code == 200, (ref, speech.text)
        assert speech.content[:4] == b"RIFF" and len(speech.content) > 1000
    # the clone prompt was made from this voice's 2.3 s sample, without a transcript (OpenAI sends none)
    assert {"samples": round(2.3 * 24_000), "rate": 24_000, "text": None, "x": True} in engine.clone_calls
    listing = httpx.get(f"{voice_server.url}/v1/audio/voices", timeout=TIMEOUT).json()["voices"]
    assert f"clone:{name}" in [v["id"] for v in listing]  # Open WebUI's listing still shows it


def test_a_voice_needs_a_consent_that_exists(voice_server: VoiceServer) -> None:
    missing = create_voice(voice_server, unique("NoConsent"), "cons_00000000000000000000000000")
    assert error(missing, 400) | {"message": ""} == {
        "message": "",
        "type": "invalid_request_error",
        "param": "consent",
        "code": "consent_not_found",
    }
    absent = httpx.post(
        f"{voice_server.url}/v1/audio/voices",
        data={"name": unique("NoConsent")},
        files={"audio_sample": ("s.wav", recording(1.5), "audio/wav")},
        timeout=TIMEOUT,
    )
    assert error(absent, 400)["param"] == "consent"
    consent = create_consent(voice_server, unique("Gone")).json()
    httpx.delete(f"{voice_server.url}/v1/audio/voice_consents/{consent['id']}", timeout=TIMEOUT)
    deleted = create_voice(voice_server, unique("Late"), consent["id"])
    assert error(deleted, 400)["code"] == "consent_not_found"


def test_a_consent_in_use_cannot_be_deleted_until_its_voices_are(voice_server: VoiceServer) -> None:
    consent = create_consent(voice_server, unique("Used")).json()
    voice = create_voice(voice_server, unique("User"), consent["id"]).json()
    url = f"{voice_server.url}/v1/audio/voice_consents/{consent['id']}"
    assert error(httpx.delete(url, timeout=TIMEOUT), 409)["code"] == "consent_in_use"
    assert httpx.get(url, timeout=TIMEOUT).status_code == 200
    assert httpx.delete(f"{voice_server.url}/v1/voices/{voice['id']}", timeout=TIMEOUT).status_code == 200
    assert httpx.delete(url, timeout=TIMEOUT).json()["deleted"] is True


def test_bad_consent_uploads_are_refused_with_the_envelope(voice_server: VoiceServer) -> None:
    no_language = create_consent(voice_server, unique("Bad"), language="")
    assert error(no_language, 400)["param"] == "language"
    bad_tag = create_consent(voice_server, unique("Bad"), language="english please")
    assert error(bad_tag, 400)["param"] == "language"
    no_name = create_consent(voice_server, "  ")
    assert error(no_name, 400)["param"] == "name"
    silent = create_consent(
        voice_server, unique("Bad"), recording=("c.wav", recording(1.5, volume=0.0), "audio/wav")
    )
    assert error(silent, 400)["code"] == "audio_silent"
    no_file = httpx.post(
        f"{voice_server.url}/v1/audio/voice_consents",
        data={"name": unique("Bad"), "language": "en-US"},
        files={"other": ("x.bin", b"12345")},
        timeout=TIMEOUT,
    )
    assert error(no_file, 400)["code"] == "invalid_request"
    unknown = httpx.post(
        f"{voice_server.url}/v1/audio/voice_consents/cons_00000000000000000000000000",
        json={"name": "x"},
        timeout=TIMEOUT,
    )
    assert error(unknown, 404)["code"] == "consent_not_found"
    limit = httpx.get(f"{voice_server.url}/v1/audio/voice_consents", params={"limit": 0}, timeout=TIMEOUT)
    assert error(limit, 400)["param"]
