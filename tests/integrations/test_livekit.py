"""LiveKit Agents' OpenAI TTS plugin (``livekit-plugins-openai``) synthesizes through this server, as the
example agent configures it; no LiveKit server is needed for the TTS leg."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.integrations.conftest import SAMPLE_RATE, DemoServer, require

require("livekit.plugins.openai")

from livekit.agents import APIConnectOptions, APIStatusError  # noqa: E402
from livekit.plugins import openai as lk_openai  # noqa: E402

TEXT = "Hello there, this is one sentence spoken by the demo server."
CONNECT = APIConnectOptions(max_retry=0, timeout=30.0)
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "livekit"


Frame = tuple[bool, np.ndarray, int, int]  # server still synthesizing?, samples, sample rate, channels


async def _synthesize(tts: lk_openai.TTS, text: str, is_synthesizing: Callable[[], bool]) -> list[Frame]:
    """Every frame the plugin yields, with whether the server was still synthesizing when it came."""
    frames: list[Frame] = []
    try:
        async with tts.synthesize(text, conn_options=CONNECT) as stream:
            async for event in stream:
                frame = event.frame
                samples = np.frombuffer(frame.data, dtype=np.int16).copy()
                frames.append((is_synthesizing(), samples, frame.sample_rate, frame.num_channels))
    finally:
        await tts.aclose()
    return frames


def synthesize(server: DemoServer, tts: lk_openai.TTS | None = None, **options: Any) -> list[Frame]:
    """``TEXT`` through ``tts``, or through a plugin TTS made with ``options`` and the server's URL."""
    tts = tts or lk_openai.TTS(base_url=server.base_url, api_key="unused", **options)
    return asyncio.run(asyncio.wait_for(_synthesize(tts, TEXT, server.is_synthesizing), 60))


@pytest.fixture(scope="module")
def agent() -> Iterator[ModuleType]:  # the example runs as a script: import it the same way
    require("livekit.plugins.silero")
    sys.path.insert(0, str(EXAMPLE_DIR))
    try:
        yield importlib.import_module("agent")
    finally:
        sys.path.remove(str(EXAMPLE_DIR))


def assert_audio(frames: list[Frame]) -> np.ndarray:
    assert frames, "no audio frames"
    assert {(rate, channels) for _, _, rate, channels in frames} == {(SAMPLE_RATE, 1)}
    samples = np.concatenate([s for _, s, _, _ in frames])
    assert samples.size > 0 and np.abs(samples).max() > 0
    return samples


def test_tts_1_pcm_streams_the_audio_body(demo_server: DemoServer) -> None:
    """``tts-1`` makes the plugin ask for ``stream_format: audio``: raw pcm read as it arrives."""
    frames = synthesize(demo_server, model="tts-1", voice="alloy", response_format="pcm")
    assert_audio(frames)
    assert frames[0][0] is True, "the first frame came only once the server had finished"
    assert len(frames) >= 3


def test_other_models_stream_sse_and_default_mp3_decodes(demo_server: DemoServer) -> None:
    """Any other model name makes the plugin ask for ``stream_format: sse``; its default format is mp3."""
    frames = synthesize(demo_server, model="gpt-4o-mini-tts", voice="nova")
    assert_audio(frames)
    assert frames[0][0] is True, "the first frame came only once the server had finished"


def test_saved_clone_voice_and_instructions_are_passed_through(demo_server: DemoServer) -> None:
    frames = synthesize(
        demo_server,
        model="qwen3-tts",
        voice=demo_server.saved_voice,
        instructions="calm and slow",  # a Base model ignores them and says so in a header
        response_format="pcm",
    )
    assert_audio(frames)


def test_an_unknown_voice_is_a_status_error(demo_server: DemoServer) -> None:
    with pytest.raises(APIStatusError) as caught:
        synthesize(demo_server, model="tts-1", voice="clone:Nobody", response_format="pcm")
    assert caught.value.status_code == 400


def test_the_example_agents_tts_speaks_a_saved_voice(demo_server: DemoServer, agent: ModuleType) -> None:
    env = {"TTS_BASE_URL": demo_server.base_url, "TTS_VOICE": demo_server.saved_voice}
    assert_audio(synthesize(demo_server, tts=agent.build_tts(env)))

    async def build() -> Any:  # as in the entrypoint: inside the job's event loop
        return agent.build_session(env)

    session = asyncio.run(build())  # VAD, STT and LLM build with the pinned plugins
    assert session.tts is not None and session.stt is not None and session.llm is not None
