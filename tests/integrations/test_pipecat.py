"""A real Pipecat pipeline speaks through this server: Pipecat's own OpenAI TTS service with ``base_url``
(what the example agent uses for built-in voices) and the example's service for saved ``clone:`` voices."""

from __future__ import annotations

import numpy as np

from tests.integrations.conftest import SAMPLE_RATE, DemoServer, require

require("pipecat")

from pipecat.services.openai.tts import OpenAITTSService  # noqa: E402

from examples.pipecat.qwen_tts_service import QwenTTSService  # noqa: E402
from tests.integrations.pipecat_probe import Received, synthesize  # noqa: E402

TOKENS = ["Hello", " there, this is", " one sentence", " spoken by the", " demo server."]  # an LLM's tokens
# a busy CI CPU may take seconds to the first half second of audio (Pipecat waits 3 s by default)
SLOW_CPU = {"stop_frame_timeout_s": 30.0}
NO_AUDIO_EXPECTED = {"stop_frame_timeout_s": 0.5}  # how long Pipecat waits for audio before ending a turn


def assert_audio(received: Received) -> None:
    assert not received.errors, received.errors
    assert received.audio, "no audio frames"
    assert {(f.sample_rate, f.num_channels) for _, f in received.audio} == {(SAMPLE_RATE, 1)}
    samples = np.frombuffer(received.pcm, dtype="<i2")
    assert samples.size > 0 and np.abs(samples).max() > 0


def assert_streamed(received: Received) -> None:
    """The first audio frame leaves the pipeline while the server is still synthesizing the text (a
    whole-file answer arrives only once the engine is done), and more frames follow."""
    assert received.synthesizing_at_first_audio is True
    assert len(received.audio) >= 2


def test_pipecat_openai_tts_streams_24khz_pcm(demo_server: DemoServer) -> None:
    tts = OpenAITTSService(
        api_key="unused",
        base_url=demo_server.base_url,
        settings=OpenAITTSService.Settings(model="tts-1", voice="alloy"),
        **SLOW_CPU,
    )
    received = synthesize(tts, TOKENS, demo_server.is_synthesizing)
    assert_audio(received)
    assert_streamed(received)


def test_example_service_speaks_a_saved_clone_voice(demo_server: DemoServer) -> None:
    tts = QwenTTSService(
        api_key="unused",
        base_url=demo_server.base_url,
        settings=QwenTTSService.Settings(model="tts-1", voice=demo_server.saved_voice),
        **SLOW_CPU,
    )
    received = synthesize(tts, TOKENS, demo_server.is_synthesizing)
    assert_audio(received)  # (random weights may end a cloned sentence early: streaming is checked above)


def test_example_service_reports_an_unknown_voice(demo_server: DemoServer) -> None:
    tts = QwenTTSService(
        api_key="unused",
        base_url=demo_server.base_url,
        settings=QwenTTSService.Settings(model="tts-1", voice="clone:Nobody"),
        **NO_AUDIO_EXPECTED,
    )
    received = synthesize(tts, ["Hello there."], demo_server.is_synthesizing)
    assert not received.audio and any("400" in e and "Nobody" in e for e in received.errors), received.errors


def test_stock_service_refuses_clone_voices_so_the_example_needs_its_own(demo_server: DemoServer) -> None:
    """Pipecat's service only sends OpenAI's voice names: the reason ``QwenTTSService`` exists."""
    tts = OpenAITTSService(
        api_key="unused",
        base_url=demo_server.base_url,
        settings=OpenAITTSService.Settings(model="tts-1", voice=demo_server.saved_voice),
        **NO_AUDIO_EXPECTED,
    )
    received = synthesize(tts, ["Hello there."], demo_server.is_synthesizing)
    assert not received.audio and any("not supported" in e for e in received.errors)
