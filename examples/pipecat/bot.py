"""A voice agent: browser microphone over WebRTC → speech-to-text → LLM → Qwen3-TTS → browser speaker.

Every model is reached over an OpenAI-compatible HTTP API, so each can run anywhere: speech-to-text on a
Whisper server (speaches, faster-whisper-server, vLLM), the LLM on Ollama, llama.cpp or vLLM, and speech on
this project's server (24 kHz pcm, streamed as it is generated). Configuration is read from the
environment when the bot starts (see README.md); run it with ``python bot.py`` and open
http://localhost:7860.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.types import RunnerArguments
from pipecat.runner.utils import create_transport
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.workers.runner import WorkerRunner
from qwen_tts_service import QwenTTSService

SAMPLE_RATE = 24_000  # what the server sends: s16le mono pcm
SYSTEM_PROMPT = (
    "You are a friendly voice assistant. Your answers are spoken aloud: keep them short, plain sentences "
    "without lists, markdown or emoji."
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str


@dataclass(frozen=True, slots=True)
class AgentConfig:
    tts: Endpoint  # model tts-1, or tts-1-de (any -<lang> suffix) to fix the language
    voice: str  # alloy, a native speaker (Vivian), or a saved voice: clone:Name
    stt: Endpoint
    llm: Endpoint

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AgentConfig:
        env = dict(os.environ if env is None else env)

        def endpoint(prefix: str, base_url: str, model: str) -> Endpoint:
            return Endpoint(
                base_url=env.get(f"{prefix}_BASE_URL", base_url),
                model=env.get(f"{prefix}_MODEL", model),
                api_key=env.get(f"{prefix}_API_KEY", "none"),
            )

        return cls(
            tts=endpoint("TTS", "http://localhost:8880/v1", "tts-1"),
            voice=env.get("TTS_VOICE", "alloy"),
            stt=endpoint("STT", "http://localhost:8000/v1", "Systran/faster-whisper-small"),
            llm=endpoint("LLM", "http://localhost:11434/v1", "llama3.2"),
        )


def build_pipeline(transport: BaseTransport, config: AgentConfig) -> Pipeline:
    stt = OpenAISTTService(
        base_url=config.stt.base_url,
        api_key=config.stt.api_key,
        settings=OpenAISTTService.Settings(model=config.stt.model),
    )
    llm = OpenAILLMService(
        base_url=config.llm.base_url,
        api_key=config.llm.api_key,
        settings=OpenAILLMService.Settings(model=config.llm.model),
    )
    tts = QwenTTSService(
        base_url=config.tts.base_url,
        api_key=config.tts.api_key,
        sample_rate=SAMPLE_RATE,
        settings=QwenTTSService.Settings(model=config.tts.model, voice=config.voice),
    )
    context = LLMContext(messages=[{"role": "system", "content": SYSTEM_PROMPT}])
    aggregators = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    return Pipeline(
        [
            transport.input(),
            stt,
            aggregators.user(),
            llm,
            tts,
            transport.output(),
            aggregators.assistant(),
        ]
    )


async def bot(runner_args: RunnerArguments) -> None:
    """Entry point of Pipecat's development runner: one call per connected browser."""
    config = AgentConfig.from_env()
    audio = {"audio_in_enabled": True, "audio_out_enabled": True}
    transport = await create_transport(runner_args, {"webrtc": lambda: TransportParams(**audio)})
    worker = PipelineWorker(
        build_pipeline(transport, config),
        params=PipelineParams(audio_out_sample_rate=SAMPLE_RATE, enable_metrics=True),
    )

    @transport.event_handler("on_client_connected")
    async def greet(_transport: BaseTransport, _client: object) -> None:
        await worker.queue_frames([LLMRunFrame()])  # the LLM speaks first (its system prompt only)

    @transport.event_handler("on_client_disconnected")
    async def leave(_transport: BaseTransport, _client: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=runner_args.handle_sigint)
    await runner.add_workers(worker)
    await runner.run()


if __name__ == "__main__":
    from pipecat.runner.run import main

    main()
