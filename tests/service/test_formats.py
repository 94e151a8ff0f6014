"""Every response format, whole and streamed, through the real OpenAI SDK: container, rate, length."""

from __future__ import annotations

import openai
import pytest

from tests.service.audio_probe import decode, duration_s, probe
from tests.service.fake_engine import SAMPLES_PER_FRAME, FakeEngine

TEXT = "Hello there, this is a test."  # 28 characters → 30 frames → 2.4 s from the fake engine
EXPECTED_S = (len(TEXT) + 2) * SAMPLES_PER_FRAME / 24_000

CONTAINERS = {
    "mp3": ("mp3", "audio/mpeg"),
    "opus": ("opus", "audio/ogg; codecs=opus"),
    "aac": ("aac", "audio/aac"),
    "flac": ("flac", "audio/flac"),
    "wav": ("pcm_s16le", "audio/wav"),
}


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.mark.parametrize("fmt", [*CONTAINERS])
def test_whole_body_is_the_requested_format(client: openai.OpenAI, fmt: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    codec, content_type = CONTAINERS[fmt]
    assert response.response.headers["content-type"] == content_type
    info = probe(response.content)
    assert info["codec_name"] == codec
    assert info["channels"] == 1
    assert info["sample_rate"] == (48_000 if fmt == "opus" else 24_000)
    assert duration_s(response.content) == pytest.approx(EXPECTED_S, abs=0.08)


def test_pcm_is_raw_24khz_s16le_of_the_exact_length(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm")
    assert response.response.headers["content-type"].startswith("audio/pcm")
    assert len(response.content) == (len(TEXT) + 2) * SAMPLES_PER_FRAME * 2


def test_default_format_is_mp3(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    assert probe(response.content)["codec_name"] == "mp3"


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_streamed_body_is_the_requested_format(client: openai.OpenAI, fmt: str) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=TEXT, response_format=fmt, extra_body={"stream": True}
    ) as response:
        assert response.headers.get("x-accel-buffering") == "no"
        data = b"".join(response.iter_bytes())
    assert duration_s(data, fmt=fmt) == pytest.approx(EXPECTED_S, abs=0.08)
    if fmt != "pcm":
        assert probe(data)["codec_name"] == CONTAINERS[fmt][0]


def test_streamed_wav_has_a_streaming_header(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=TEXT, response_format="wav", extra_body={"stream_format": "audio"}
    ) as response:
        data = b"".join(response.iter_bytes())
    assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff" and data[40:44] == b"\xff\xff\xff\xff"
    assert len(data) - 44 == (len(TEXT) + 2) * SAMPLES_PER_FRAME * 2


@pytest.mark.parametrize(("speed", "fmt"), [(2.0, "wav"), (0.5, "mp3"), (4.0, "pcm"), (0.25, "flac")])
def test_speed_changes_duration_not_pitch(client: openai.OpenAI, speed: float, fmt: str) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format=fmt, speed=speed
    )
    samples = decode(response.content, fmt=fmt)
    assert samples.size / 24_000 == pytest.approx(EXPECTED_S / speed, rel=0.05)
    assert _dominant_hz(samples) == pytest.approx(_dominant_hz(_reference(client, fmt)), rel=0.03)


def _reference(client: openai.OpenAI, fmt: str) -> object:
    return decode(
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt).content,
        fmt=fmt,
    )


def _dominant_hz(samples: object) -> float:
    import numpy as np

    x = np.asarray(samples)[2400:-2400]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * 24_000 / x.size)


def test_language_suffix_and_extensions_reach_the_engine(
    client: openai.OpenAI, engines: dict[str, FakeEngine]
) -> None:
    client.audio.speech.create(
        model="tts-1-de",
        voice="ECHO",
        input=TEXT,
        response_format="pcm",
        extra_body={
            "seed": 7,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 20,
            "repetition_penalty": 1.1,
            "some_future_field": {"ignored": True},
        },
    )
    request = engines["fake-CustomVoice"].records[-1].request
    assert (request.language, request.speaker, request.seed) == ("german", "Ryan", 7)
    assert request.sampling == {"temperature": 0.5, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.1}
