"""A LiveKit voice agent whose voice is this Qwen3-TTS server.

LiveKit Agents' OpenAI plugin speaks to any OpenAI-compatible endpoint: speech-to-text and the LLM can be
local servers (a Whisper server, Ollama, vLLM), and the TTS is this server (``response_format="pcm"``:
24 kHz s16le mono, streamed as it is generated). Configuration is read from the environment when a session
starts (see README.md). Run it with ``python agent.py dev`` next to a LiveKit server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli
from livekit.plugins import openai, silero

INSTRUCTIONS = (
    "You are a friendly voice assistant. Your answers are spoken aloud: keep them short, plain sentences "
    "without lists, markdown or emoji."
)


def build_tts(env: Mapping[str, str]) -> openai.TTS:
    """The server as LiveKit's OpenAI TTS: ``tts-1`` (or ``tts-1-de``, …) makes the plugin stream raw audio;
    any other model name makes it ask for SSE, which the server also streams."""
    return openai.TTS(
        base_url=env.get("TTS_BASE_URL", "http://localhost:8880/v1"),
        api_key=env.get("TTS_API_KEY", "none"),
        model=env.get("TTS_MODEL", "tts-1"),
        voice=env.get("TTS_VOICE", "alloy"),  # alloy, a native speaker (Vivian) or a saved voice: clone:Name
        response_format="pcm",
    )


def build_session(env: Mapping[str, str]) -> AgentSession:
    vad = silero.VAD.load()
    return AgentSession(
        vad=vad,
        stt=openai.STT(
            base_url=env.get("STT_BASE_URL", "http://localhost:8000/v1"),
            api_key=env.get("STT_API_KEY", "none"),
            model=env.get("STT_MODEL", "Systran/faster-whisper-small"),
            vad=vad,  # the HTTP STT transcribes whole utterances: VAD cuts them
        ),
        llm=openai.LLM(
            base_url=env.get("LLM_BASE_URL", "http://localhost:11434/v1"),
            api_key=env.get("LLM_API_KEY", "none"),
            model=env.get("LLM_MODEL", "llama3.2"),
        ),
        tts=build_tts(env),
    )


server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = build_session(os.environ)
    await session.start(room=ctx.room, agent=Agent(instructions=INSTRUCTIONS))
    await session.generate_reply(instructions="Greet the user in one short sentence.")


if __name__ == "__main__":
    cli.run_app(server)
