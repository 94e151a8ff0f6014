"""An engine that fails: before the first chunk → a 500 envelope; mid-stream → SSE error event / cut stream.
Never a hang, and the server keeps serving."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes

BODY = {"model": "tts-1", "voice": "alloy", "input": "Some words to speak here.", "response_format": "pcm"}


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    """(fails at once, fails after three chunks)."""
    with (
        serve_fakes({"at-once-CustomVoice": FakeEngine(fail_at_chunk=0)}) as at_once,
        serve_fakes({"later-CustomVoice": FakeEngine(fail_at_chunk=3)}) as later,
    ):
        yield at_once, later


@pytest.mark.parametrize("stream", [False, True])
def test_failure_before_any_audio_is_a_500_envelope(urls: tuple[str, str], stream: bool) -> None:
    response = httpx.post(f"{urls[0]}/v1/audio/speech", json=BODY | {"stream": stream}, timeout=10)
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "synthesis_failed")
    assert "fake engine failure" in error["message"] and response.headers["x-request-id"]


def test_failure_mid_sse_stream_ends_with_an_error_event(urls: tuple[str, str]) -> None:
    with httpx.stream(
        "POST", f"{urls[1]}/v1/audio/speech", json=BODY | {"stream_format": "sse"}, timeout=10
    ) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1) and len(events) > 1
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "synthesis_failed"


def test_failure_mid_audio_stream_cuts_the_body_so_the_client_sees_an_error(urls: tuple[str, str]) -> None:
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", f"{urls[1]}/v1/audio/speech", json=BODY | {"stream": True}, timeout=10
        ) as response,
    ):
        for _ in response.iter_bytes():
            pass


def test_a_mid_stream_failure_logs_one_line_not_a_traceback(
    urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19: after the first byte the status is out; the web side logs one structured line per failure
    (and uvicorn one line that the response did not complete), not a "response already started" traceback.
    The engine's own failure is logged by the engine host, as before."""
    caplog.set_level(logging.INFO)
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{urls[1]}/v1/audio/speech", json=BODY | {"stream": True}, timeout=10) as r,
    ):
        for _ in r.iter_bytes():
            pass
    time.sleep(0.5)  # the server thread logs after the connection drops
    aborted = [r for r in caplog.records if r.getMessage().startswith("stream aborted after the first byte")]
    assert len(aborted) == 1 and aborted[0].exc_info is None
    web_side = [r for r in caplog.records if r.name.startswith(("web", "uvicorn", "starlette", "fastapi"))]
    assert not [r for r in web_side if r.exc_info is not None], [r.getMessage() for r in web_side]


def test_the_server_keeps_serving_after_failures(urls: tuple[str, str]) -> None:
    for _ in range(3):
        assert httpx.post(f"{urls[0]}/v1/audio/speech", json=BODY, timeout=10).status_code == 500
    assert httpx.get(f"{urls[0]}/readyz", timeout=10).status_code == 200
