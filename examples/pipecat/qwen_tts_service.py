"""Pipecat's OpenAI TTS service for a Qwen3-TTS server: every voice the server knows, not only OpenAI's.

Pipecat's ``OpenAITTSService`` refuses any voice outside OpenAI's thirteen names, so a saved voice
(``clone:Name``) or a native speaker (``Vivian``) never reaches the server. This subclass sends the same
request (``POST /v1/audio/speech``, ``response_format: pcm``, 24 kHz s16le mono, read as it streams) with
whatever voice is configured; the server reports an unknown voice as an error frame.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from openai import APIStatusError
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.openai.tts import OpenAITTSService


class QwenTTSService(OpenAITTSService):
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        params: dict[str, Any] = {
            "input": text,
            "model": self._settings.model,
            "voice": self._settings.voice,
            "response_format": "pcm",
            "extra_body": {"stream": True},  # the server streams raw pcm by default; say so anyway
        }
        if self._settings.instructions:
            params["instructions"] = self._settings.instructions
        if self._settings.speed:
            params["speed"] = self._settings.speed
        try:
            async with self._client.audio.speech.with_streaming_response.create(**params) as response:
                await self.start_tts_usage_metrics(text)
                async for chunk in response.iter_bytes(self.chunk_size):
                    if chunk:
                        await self.stop_ttfb_metrics()
                        yield TTSAudioRawFrame(chunk, self.sample_rate, 1, context_id=context_id)
        except APIStatusError as e:  # 4xx/5xx: the server's OpenAI error envelope names the problem
            yield ErrorFrame(error=f"TTS request failed ({e.status_code}): {e.message}")
