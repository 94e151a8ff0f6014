"""LiveKit Agents' OpenAI TTS plugin (``livekit-plugins-openai``) synthesizes through this server, as the
example agent configures it; no LiveKit server is needed for the TTS leg."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.integrations.conftest import SAMPLE_RATE, DemoServer

pytest.importorskip("livekit.plugins.openai", reason="livekit-plugins-openai is not installed (.[examples])")

from livekit.agents import APIConnectOptions, APIStatusError
from livekit.plugins import openai as lk_openai

TEXT = "Hello there, this is one sentence spoken by the demo server."
CONNECT = APIConnectOptions(max_retry=0, timeout=30.0)


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


def synthesize(server: DemoServer, text: str = TEXT, **options: Any) -> list[Frame]:
    tts = lk_openai.TTS(base_url=server.base_url, api_key="unused", **options)
    return asyncio.run(asyncio.wait_for(_synthesize(tts, text, server.is_synthesizing), 60))


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
    assert caught.value.status_code == 404
