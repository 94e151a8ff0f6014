"""The Pipecat example agent builds its whole pipeline (Silero VAD, OpenAI-compatible STT and LLM, the
server's TTS) with the pinned Pipecat, from the environment variables its README documents."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.integrations.conftest import require

require("pipecat.audio.vad.silero")

from pipecat.processors.frame_processor import FrameProcessor  # noqa: E402
from pipecat.transports.base_transport import BaseTransport  # noqa: E402

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "pipecat"


class LoopbackTransport(BaseTransport):
    """Stands in for the WebRTC transport (which needs a browser): plain processors at both ends."""

    def __init__(self) -> None:
        super().__init__()
        self._input, self._output = FrameProcessor(), FrameProcessor()

    def input(self) -> FrameProcessor:
        return self._input

    def output(self) -> FrameProcessor:
        return self._output


@pytest.fixture(scope="module")
def bot() -> Iterator[ModuleType]:  # the example runs as a script next to qwen_tts_service.py: import it so
    sys.path.insert(0, str(EXAMPLE_DIR))
    try:
        yield importlib.import_module("bot")
    finally:
        sys.path.remove(str(EXAMPLE_DIR))


def test_config_from_the_environment(bot: ModuleType) -> None:
    env = {"TTS_BASE_URL": "http://gpu:8880/v1", "TTS_VOICE": "clone:Ana", "TTS_MODEL": "tts-1-de"}
    config = bot.AgentConfig.from_env(env | {"LLM_MODEL": "qwen3:8b", "STT_API_KEY": "k"})
    assert (config.tts.base_url, config.tts.model) == ("http://gpu:8880/v1", "tts-1-de")
    assert (config.voice, config.llm.model, config.stt.api_key) == ("clone:Ana", "qwen3:8b", "k")
    assert config.stt.base_url == "http://localhost:8000/v1"  # the default


def test_pipeline_wires_stt_llm_and_the_server_tts(bot: ModuleType) -> None:
    config = bot.AgentConfig.from_env({"TTS_VOICE": "clone:Ana"})
    pipeline = bot.build_pipeline(LoopbackTransport(), config)
    names = [type(p).__name__ for p in pipeline.processors]
    tts_at = names.index("QwenTTSService")
    assert names.index("OpenAISTTService") < names.index("OpenAILLMService") < tts_at
    tts = pipeline.processors[tts_at]
    assert tts._settings.voice == "clone:Ana" and str(tts._client.base_url) == "http://localhost:8880/v1/"
