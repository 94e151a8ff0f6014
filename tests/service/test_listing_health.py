"""Listings in the shapes OpenAI clients and Open WebUI read; liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.service.fake_engine import SPEAKERS


def test_openai_model_list(base_url: str) -> None:
    models = openai.OpenAI(base_url=f"{base_url}/v1", api_key="x").models.list()
    ids = [m.id for m in models.data]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "qwen3-tts", "fake-CustomVoice", "fake-Base"} <= set(ids)
    assert all(m.object == "model" for m in models.data)


def test_open_webui_audio_models_shape(base_url: str) -> None:
    body = httpx.get(f"{base_url}/v1/audio/models", timeout=10).json()
    assert set(body) == {"models"}
    assert {"id": "tts-1"} in body["models"] and all(set(m) == {"id"} for m in body["models"])


def test_open_webui_voices_shape_lists_aliases_and_native_speakers(base_url: str) -> None:
    body = httpx.get(f"{base_url}/v1/audio/voices", timeout=10).json()
    assert set(body) == {"voices"}
    ids = [v["id"] for v in body["voices"]]
    assert all(set(v) == {"id", "name"} and v["name"] for v in body["voices"])
    openai_voices = [
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "nova",
        "onyx",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    ]
    assert set(openai_voices) <= set(ids)
    assert set(SPEAKERS) <= set(ids)
    assert {"id": "alloy", "name": "alloy (Vivian)"} in body["voices"]


def test_every_listed_voice_is_accepted(base_url: str) -> None:
    for voice in httpx.get(f"{base_url}/v1/audio/voices", timeout=10).json()["voices"]:
        response = httpx.post(
            f"{base_url}/v1/audio/speech",
            json={"model": "tts-1", "voice": voice["id"], "input": "Hi.", "response_format": "pcm"},
            timeout=10,
        )
        assert response.status_code == 200, (voice, response.text)


def test_native_names_any_case_and_id_objects(base_url: str) -> None:
    for voice in ["uncle_fu", "UNCLE_FU", {"id": "Ono_Anna"}, {"id": "shimmer"}]:
        response = httpx.post(
            f"{base_url}/v1/audio/speech",
            json={"model": "tts-1", "voice": voice, "input": "Hi.", "response_format": "pcm"},
            timeout=10,
        )
        assert response.status_code == 200, (voice, response.text)


def test_liveness_and_readiness(base_url: str) -> None:
    assert httpx.get(f"{base_url}/livez", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/readyz", timeout=10)
    assert ready.status_code == 200 and "fake-CustomVoice" in ready.json()["models"]


def test_metrics_count_requests_by_status_and_time_audio(base_url: str) -> None:
    httpx.post(
        f"{base_url}/v1/audio/speech", json={"voice": "alloy", "input": "", "model": "tts-1"}, timeout=10
    )
    httpx.post(
        f"{base_url}/v1/audio/speech",
        json={"voice": "alloy", "input": "Hi there.", "model": "tts-1", "stream": True},
        timeout=10,
    )
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    assert 'tts_http_requests_total{route="/v1/audio/speech",status="400"}' in text
    assert 'tts_http_requests_total{route="/v1/audio/speech",status="200"}' in text
    assert 'tts_time_to_first_audio_seconds_count{stream="audio"}' in text
    assert "tts_real_time_factor_count" in text
    assert "tts_queue_depth 0.0" in text


def test_ready_and_every_format_served_with_no_ffmpeg_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audio is encoded in process (PyAV): with nothing on PATH there is no ffmpeg to find, none needed."""
    from tests.service.fake_engine import FakeEngine
    from tests.service.harness import serve_fakes

    monkeypatch.setenv("PATH", "/nonexistent")
    with serve_fakes({"fake-CustomVoice": FakeEngine()}) as url:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        for fmt in ("mp3", "opus", "aac", "flac", "wav", "pcm"):
            body = {"model": "tts-1", "voice": "alloy", "input": "Hi.", "response_format": fmt}
            response = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=10)
            assert response.status_code == 200 and response.content, fmt
