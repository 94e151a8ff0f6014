"""One answer per mistake, however it is made: an unknown voice is a 400 ``voice_not_found`` whether it is
named plainly, as ``clone:Name`` or as ``{"id"}``, on /v1/audio/speech and /v1/jobs alike; messages carry no
pydantic prefixes; a job's format error lists every format; a body that is not JSON is a 415 saying so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.settings import SettingsError, load_settings
from tests.service.full_server import FullServer, full_server

SPEECH = {"model": "tts-1", "input": "Hello.", "response_format": "pcm"}
JOB = {"input": "Hello there.", "response_format": "wav"}
UNKNOWN_VOICES = ["nobody", "clone:Nobody", {"id": "nobody"}]
ROUTES = {"/v1/audio/speech": SPEECH, "/v1/jobs": JOB}


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullServer]:
    with full_server(Path(tmp_path_factory.mktemp("errors"))) as server:
        yield server


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    return error


@pytest.mark.parametrize("route", list(ROUTES))
def test_an_unknown_voice_is_the_same_error_however_it_is_named(full: FullServer, route: str) -> None:
    answers = set()
    for voice in UNKNOWN_VOICES:
        response = httpx.post(f"{full.url}{route}", json=ROUTES[route] | {"voice": voice}, headers=full.auth)
        error = _error(response, 400)
        assert "nobody" in error["message"].lower()
        answers.add((response.status_code, error["code"], error["param"]))
    assert answers == {(400, "voice_not_found", "voice")}


@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("/v1/audio/speech", SPEECH | {"voice": "alloy", "ref_audio": "UklGRg=="}, None),
        ("/v1/jobs", {"voice": "alloy"}, None),
        ("/v1/jobs", JOB | {"voice": "alloy", "metadata": {"x": "y" * 20_000}}, "metadata"),
        ("/v1/jobs", JOB | {"voice": "alloy", "colour": "blue"}, "colour"),
    ],
    ids=["speech: voice and ref_audio", "job: no text", "job: metadata too large", "job: unknown field"],
)
def test_messages_carry_no_validator_prefixes(
    full: FullServer, route: str, body: dict[str, Any], param: str | None
) -> None:
    error = _error(httpx.post(f"{full.url}{route}", json=body, headers=full.auth), 400)
    assert "Value error" not in error["message"] and "Assertion failed" not in error["message"]
    assert error["param"] == param
    if param == "colour":
        assert error["message"] == "colour: unknown field"


def test_settings_errors_carry_no_validator_prefixes() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"default_model": "no-such-model"}, env={})
    assert "no-such-model" in str(caught.value) and "Value error" not in str(caught.value)


def test_a_jobs_format_error_lists_every_format(full: FullServer) -> None:
    body = JOB | {"voice": "alloy", "response_format": "ogg"}
    error = _error(httpx.post(f"{full.url}/v1/jobs", json=body, headers=full.auth), 400)
    assert error["param"] == "response_format" and "more problem" not in error["message"]
    for name in ("mp3", "opus", "aac", "flac", "wav", "pcm", "m4b"):
        assert f"'{name}'" in error["message"], error["message"]


NOT_JSON: list[tuple[str, dict[str, Any]]] = [
    (
        "text/plain",
        {"content": '{"input": "Hi", "voice": "alloy"}', "headers": {"content-type": "text/plain"}},
    ),
    ("form data", {"data": {"input": "Hi", "voice": "alloy"}}),  # curl -d without -H
    ("no content type", {"content": b'{"input": "Hi", "voice": "alloy"}'}),
]


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(("name", "request_kwargs"), NOT_JSON, ids=[n for n, _ in NOT_JSON])
def test_a_body_that_is_not_json_is_a_415_saying_json_is_expected(
    full: FullServer, route: str, name: str, request_kwargs: dict[str, Any]
) -> None:
    kwargs = dict(request_kwargs)
    headers = full.auth | kwargs.pop("headers", {})
    error = _error(httpx.post(f"{full.url}{route}", headers=headers, **kwargs), 415)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]


def test_malformed_json_is_still_a_400(full: FullServer) -> None:
    response = httpx.post(
        f"{full.url}/v1/audio/speech",
        content=b'{"input": "Hi",',
        headers=full.auth | {"content-type": "application/json"},
    )
    assert _error(response, 400)["code"] == "invalid_json"
