"""The bad-input matrix: status, OpenAI error envelope, and an x-request-id on every response."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

OK = {"model": "tts-1", "voice": "alloy", "input": "Hello.", "response_format": "pcm"}

CASES: list[tuple[str, dict[str, Any], int, str | None, str]] = [
    ("empty input", OK | {"input": ""}, 400, "input", "empty_input"),
    ("whitespace input", OK | {"input": " \n\t "}, 400, "input", "empty_input"),
    ("oversized input", OK | {"input": "a" * 4097}, 400, "input", "input_too_long"),
    ("unknown voice", OK | {"voice": "nobody"}, 400, "voice", "voice_not_found"),
    ("unknown clone", OK | {"voice": "clone:Nobody"}, 400, "voice", "voice_not_found"),
    ("bad voice object", OK | {"voice": {"name": "x"}}, 400, "voice", "invalid_request"),
    ("bad format", OK | {"response_format": "ogg"}, 400, "response_format", "invalid_request"),
    ("speed too low", OK | {"speed": 0.2}, 400, "speed", "invalid_request"),
    ("speed too high", OK | {"speed": 4.5}, 400, "speed", "invalid_request"),
    ("speed not a number", OK | {"speed": "fast"}, 400, "speed", "invalid_request"),
    ("missing input", {k: v for k, v in OK.items() if k != "input"}, 400, "input", "invalid_request"),
    ("unknown model", OK | {"model": "tts-9"}, 400, "model", "model_not_found"),
    ("unknown language", OK | {"language": "klingon"}, 400, "language", "unsupported_language"),
    ("bad temperature", OK | {"temperature": 0}, 400, "temperature", "invalid_request"),
    ("voice design without instructions", OK | {"model": "fake-VoiceDesign"}, 400, "instructions", None),
]


@pytest.mark.parametrize(("name", "body", "status", "param", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_an_envelope(
    base_url: str, name: str, body: dict[str, Any], status: int, param: str | None, code: str | None
) -> None:
    response = httpx.post(f"{base_url}/v1/audio/speech", json=body, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [  # a body sent without a JSON Content-Type is a 415 (test_error_consistency.py)
        (b'{"model": "tts-1", "input": "Hi",', {"content-type": "application/json"}),
        (b"not json", {"content-type": "application/json"}),
    ],
    ids=["truncated json", "not json"],
)
def test_malformed_json_is_400(base_url: str, content: bytes, headers: dict[str, str]) -> None:
    response = httpx.post(f"{base_url}/v1/audio/speech", content=content, headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_and_method_use_the_envelope(base_url: str) -> None:
    missing = httpx.get(f"{base_url}/v1/nothing-here", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = httpx.get(f"{base_url}/v1/audio/speech", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_request_id_is_echoed_when_well_formed_and_made_otherwise(base_url: str) -> None:
    echoed = httpx.get(f"{base_url}/livez", headers={"x-request-id": "trace-123"}, timeout=10)
    assert echoed.headers["x-request-id"] == "trace-123"
    made = httpx.get(f"{base_url}/livez", headers={"x-request-id": "bad id\twith spaces"}, timeout=10)
    assert made.headers["x-request-id"] != "bad id\twith spaces" and len(made.headers["x-request-id"]) == 32
    streamed = httpx.post(f"{base_url}/v1/audio/speech", json=OK | {"stream": True}, timeout=10)
    assert streamed.status_code == 200 and streamed.headers["x-request-id"]


def test_sdk_raises_typed_errors_with_the_message(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="")
    assert "input" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="clone:Nobody", input="Hello")


def test_instructions_ignored_by_the_model_are_reported_in_a_header(base_url: str) -> None:
    followed = httpx.post(f"{base_url}/v1/audio/speech", json=OK | {"instructions": "whisper"}, timeout=10)
    assert followed.status_code == 200 and "x-instructions-ignored" not in followed.headers
    ignored = httpx.post(
        f"{base_url}/v1/audio/speech",
        json=OK | {"model": "fake-Small-CustomVoice", "instructions": "whisper"},
        timeout=10,
    )
    assert ignored.status_code == 200
    assert "does not follow instructions" in ignored.headers["x-instructions-ignored"]
