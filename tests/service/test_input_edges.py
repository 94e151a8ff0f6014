"""Inputs that are not text, or not numbers (issue 19): 400 with a clear message, never 500, never silence."""

from __future__ import annotations

import httpx
import pytest

BODY = '{{"model": "tts-1", "voice": "alloy", "response_format": "pcm", "input": {input}, "speed": {speed}}}'

CASES = [  # (name, input as JSON, speed as JSON, status, param, code, words in the message)
    ("lone surrogate", '"\\ud800 x"', "1.0", 400, "input", "invalid_input", "surrogate"),
    ("zero-width only", '"\\u200b\\u200c\\ufeff"', "1.0", 400, "input", "empty_input", "text"),
    ("NULs only", '"\\u0000\\u0000"', "1.0", 400, "input", "empty_input", "text"),
    ("controls only", '"\\u0007\\u001b \\u0000"', "1.0", 400, "input", "empty_input", "text"),
    ("NaN speed", '"Hello."', "NaN", 400, "speed", "invalid_request", "finite"),
    ("Infinity speed", '"Hello."', "Infinity", 400, "speed", "invalid_request", "finite"),
]


@pytest.mark.parametrize(
    ("name", "text", "speed", "status", "param", "code", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_unspeakable_or_non_finite_input_is_refused_clearly(
    base_url: str, name: str, text: str, speed: str, status: int, param: str, code: str, words: str
) -> None:
    response = httpx.post(
        f"{base_url}/v1/audio/speech",
        content=BODY.format(input=text, speed=speed).encode(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert words in error["message"].lower()


def test_nul_bytes_inside_text_are_stripped_and_the_rest_is_spoken(base_url: str) -> None:
    body = BODY.format(input='"Hel\\u0000lo."', speed="1.0")
    response = httpx.post(
        f"{base_url}/v1/audio/speech",
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert len(response.content) > 0
