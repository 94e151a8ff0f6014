"""The exact requests Open WebUI and SillyTavern send, replayed against the demo server (what Pipecat's and
LiveKit's clients put on the wire is in ``test_library_requests.py``).

Sources (read from the clients' code): Open WebUI ``backend/open_webui/routers/audio.py`` (``speech``,
``get_available_models``, ``get_available_voices``) and ``src/lib/apis/audio/index.ts``
(``synthesizeOpenAISpeech``); SillyTavern ``src/endpoints/openai.js`` (``/custom/generate-voice``, the
proxy that calls the configured endpoint) and ``public/scripts/extensions/tts/openai-compatible.js``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integrations.conftest import DemoServer
from tests.service.audio_probe import decode, probe

TIMEOUT = 120


def test_open_webui_lists_models_and_voices_without_a_key(demo_server: DemoServer) -> None:
    # Open WebUI (custom base URL): GET {base}/audio/models -> data["models"]; GET {base}/audio/voices ->
    # {voice["id"]: voice["name"] for voice in data["voices"]}; both without an Authorization header
    models = httpx.get(f"{demo_server.base_url}/audio/models", timeout=TIMEOUT).json()["models"]
    assert {"tts-1", "demo-CustomVoice", "demo-Base"} <= {m["id"] for m in models}
    voices = {v["id"]: v["name"] for v in httpx.get(f"{demo_server.base_url}/audio/voices").json()["voices"]}
    assert "alloy" in voices and demo_server.saved_voice in voices


@pytest.mark.parametrize("voice", ["alloy", "saved"])
def test_open_webui_speech_request_returns_mp3(demo_server: DemoServer, voice: str) -> None:
    # the browser sends {input, voice[, model]}; the backend sets model to its TTS_MODEL, merges
    # TTS_OPENAI_PARAMS (empty by default), POSTs with the key as a bearer token and saves the body as .mp3
    chosen = demo_server.saved_voice if voice == "saved" else voice
    payload = {"input": "Hello from Open WebUI.", "voice": chosen, "model": "tts-1"}
    response = httpx.post(
        f"{demo_server.base_url}/audio/speech",
        json=payload,
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-anything"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert probe(response.content)["codec_name"] == "mp3" and decode(response.content).size > 0


def test_sillytavern_proxy_request_returns_mp3(demo_server: DemoServer) -> None:
    # SillyTavern's server POSTs to the "Provider Endpoint" (the full speech URL) exactly these five fields;
    # with no key saved it sends `Bearer ${key ?? ''}`, which fetch trims to "Bearer"
    body = {"input": "Hello from SillyTavern.", "response_format": "mp3", "voice": "nova", "speed": 1}
    body["model"] = "tts-1"
    response = httpx.post(
        f"{demo_server.base_url}/audio/speech",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": "Bearer"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert probe(response.content)["codec_name"] == "mp3" and decode(response.content).size > 0


def test_sillytavern_speed_and_a_saved_voice(demo_server: DemoServer) -> None:
    def seconds(speed: float) -> float:
        body = {"input": "One two three.", "response_format": "mp3", "voice": demo_server.saved_voice}
        body |= {"speed": speed, "model": "tts-1", "seed": 7}  # seed: the same audio at both speeds
        response = httpx.post(f"{demo_server.base_url}/audio/speech", json=body, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return decode(response.content).size / 24_000

    assert seconds(2.0) == pytest.approx(seconds(1.0) / 2, rel=0.15)


@pytest.mark.parametrize(("stream", "streamed"), [(None, True), (False, False), (True, True)])
def test_pcm_streams_unless_told_not_to(demo_server: DemoServer, stream: bool | None, streamed: bool) -> None:
    """OpenAI streams every speech body; Pipecat relies on it for pcm and sends no stream flag."""
    body: dict[str, object] = {"input": "Hello.", "voice": "alloy", "response_format": "pcm", "seed": 3}
    if stream is not None:
        body["stream"] = stream
    response = httpx.post(f"{demo_server.base_url}/audio/speech", json=body, timeout=TIMEOUT)
    assert response.status_code == 200 and len(response.content) > 0
    assert ("content-length" not in response.headers) is streamed
    assert (response.headers.get("x-accel-buffering") == "no") is streamed
