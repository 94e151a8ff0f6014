"""The WebSocket over the real engine in the embedded mode, composed as ``qwen3-tts serve --demo`` builds it
(tiny random-weight checkpoints, SQLite, a blob folder): token-by-token input, PCM and MP3 that decode, a
seeded sentence that sounds as ``/v1/audio/speech`` makes it, and an inline ``ref_audio`` clone."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from tests.realtime.client import open_session, send, speak
from tests.realtime.test_turns import tokens
from tests.service.audio_probe import decode, probe
from tests.voices.fakes import recording

# the embedded demo composition with the voice library, as the voice tests serve it (skips without the
# tiny checkpoint writer)
from tests.voices.test_tiny_clone import MAX_FRAMES, TIMEOUT, TinyServer, tiny  # noqa: F401

FRAME = 1920


@pytest.fixture(scope="module")
def tiny_url(tiny: TinyServer) -> str:  # noqa: F811
    return tiny.url


def test_tokens_in_pcm_out_as_the_speech_endpoint_makes_it(tiny_url: str) -> None:
    with open_session(tiny_url) as ws:
        send(ws, type="session.config", voice="alloy", seed=7)
        turn = speak(ws, tokens("Hello world. How are you?"))
    assert turn.sentences == ["Hello world.", "How are you?"]
    for index in (0, 1):
        samples = np.frombuffer(turn.sentence_audio(index), dtype="<i2")
        assert 0 < samples.size <= MAX_FRAMES * FRAME and samples.size % FRAME == 0
    body = {"model": "tts-1", "voice": "alloy", "input": "Hello world.", "response_format": "pcm", "seed": 7}
    whole = httpx.post(f"{tiny_url}/v1/audio/speech", json=body, timeout=TIMEOUT)
    assert whole.status_code == 200
    # the same codes; decoded in a batch with the sentence submitted ahead, samples agree to 1 LSB
    alone, streamed = (
        np.frombuffer(b, dtype="<i2").astype(np.int32) for b in (whole.content, turn.sentence_audio(0))
    )
    assert alone.shape == streamed.shape and np.abs(alone - streamed).max() <= 1


def test_mp3_sentences_decode(tiny_url: str) -> None:
    with open_session(tiny_url) as ws:
        send(ws, type="session.config", voice="echo", response_format="mp3", max_new_tokens=4)
        turn = speak(ws, ["One sentence. Two sentences."])
    for index in (0, 1):
        data = turn.sentence_audio(index)
        assert probe(data)["codec_name"] == "mp3"
        assert 0 < decode(data).size <= 4 * FRAME + 2 * 1152  # the cap, plus the codec's padding


def test_an_inline_ref_audio_clone_speaks_with_the_base_model(tiny_url: str) -> None:
    audio = base64.b64encode(recording(1.5, fmt="ogg")).decode()
    with open_session(tiny_url) as ws:
        send(ws, type="session.config", ref_audio=audio, ref_text="Hello world.")
        turn = speak(ws, ["A cloned sentence. And another."])
    assert turn.types() == ["audio.start", "audio.done"] * 2 + ["session.done"], turn.events
    assert all(len(turn.sentence_audio(i)) > 0 for i in (0, 1))
