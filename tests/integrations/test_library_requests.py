"""What Pipecat's and LiveKit's OpenAI TTS clients put on the wire, captured from the real libraries (the
request shapes docs/integrations.md states); the same clients run against the server in test_pipecat.py
and test_livekit.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integrations.conftest import require

httpx2 = require("httpx2")  # the HTTP client of openai>=3, which both libraries use
openai = require("openai")


class Capture(httpx2.AsyncBaseTransport):
    """Answers like the server (a little pcm), keeping each request: what a client library put on the wire."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        self.bodies.append(json.loads(await request.aread()))
        return httpx2.Response(200, headers={"content-type": "audio/pcm"}, content=b"\1\0" * 1920)


def test_pipecat_sends_pcm_without_a_stream_flag() -> None:
    pipecat_tts = require("pipecat.services.openai.tts")
    from tests.integrations.pipecat_probe import synthesize

    capture = Capture()
    tts = pipecat_tts.OpenAITTSService(
        api_key="unused",
        base_url="http://127.0.0.1:9/v1",
        http_client=openai.DefaultAsyncHttpxClient(transport=capture),
        settings=pipecat_tts.OpenAITTSService.Settings(model="tts-1", voice="echo"),
    )
    synthesize(tts, ["Hello there."], lambda: False)
    assert capture.paths == ["/v1/audio/speech"]
    sent = {"input": "Hello there.", "model": "tts-1", "voice": "echo", "response_format": "pcm"}
    assert capture.bodies == [sent]


@pytest.mark.parametrize(("model", "stream_format"), [("tts-1", "audio"), ("qwen3-tts", "sse")])
def test_livekit_sends_a_stream_format_by_model(model: str, stream_format: str) -> None:
    lk_openai = require("livekit.plugins.openai")

    capture = Capture()
    client = openai.AsyncOpenAI(
        api_key="unused", base_url="http://127.0.0.1:9/v1", http_client=httpx2.AsyncClient(transport=capture)
    )
    tts = lk_openai.TTS(model=model, voice="clone:Ana", response_format="pcm", client=client)

    async def run() -> None:
        async with tts.synthesize("Hello there.") as stream:
            async for _ in stream:
                pass
        await client.close()

    asyncio.run(asyncio.wait_for(run(), 30))
    assert capture.paths == ["/v1/audio/speech"]
    assert capture.bodies == [
        {
            "input": "Hello there.",
            "model": model,
            "voice": "clone:Ana",
            "response_format": "pcm",
            "speed": 1.0,
            "stream_format": stream_format,
        }
    ]
