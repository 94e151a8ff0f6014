"""The distributed path with the real engine: tiny random-weight checkpoints loaded by a real Celery worker
process (CPU), streamed through Redis to the OpenAI SDK; a seeded request sounds exactly as in the embedded
mode, a switch between the CustomVoice and VoiceDesign variants is served by the same worker, and concurrent
requests decoded together in the worker's batch sound as each does alone."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openai
import pytest

from common.settings import Settings
from server.composition import build_embedded_services, build_host, engine_loader
from tests.distributed.harness import tiny_cluster
from tests.fixtures.s3_server import MotoServer
from tests.service.harness import serve
from web.app import create_app

tiny_checkpoint = pytest.importorskip("qwen_tts.tiny_checkpoint", reason="the tiny checkpoint writer")

FRAME = 1920
MAX_FRAMES = 12
MODELS = {"tiny-CustomVoice": "custom_voice", "tiny-VoiceDesign": "voice_design"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = Path(tmp_path_factory.mktemp("tiny-models"))
    return {
        name: str(tiny_checkpoint.write_tiny_checkpoint(root / name, model_type))
        for name, model_type in MODELS.items()
    }


@pytest.fixture(scope="module")
def distributed_url(
    checkpoints: dict[str, str], redis_url: str, migrated_postgres_url: str, moto_server: MotoServer
) -> Iterator[str]:
    with tiny_cluster(
        redis_url=redis_url,
        database_url=migrated_postgres_url,
        s3=moto_server,
        models=checkpoints,
        hostname="tiny@test",
        QWEN_TTS_MAX_FRAMES_PER_PIECE=str(MAX_FRAMES),
    ) as url:
        yield url


@pytest.fixture(scope="module")
def embedded_url(checkpoints: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("embedded")),
        models=checkpoints,
        default_model="tiny-CustomVoice",
        preload_models=list(checkpoints),
        max_frames_per_piece=MAX_FRAMES,
    )
    host = build_host(settings, engine_loader(settings))
    with serve(create_app(build_embedded_services(settings, host)), timeout_s=120) as url:
        assert host.wait_ready(120)
        yield url


def speech(url: str, **request: object) -> bytes:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)
    extra = {"seed": 1234, "stream_format": "audio"}
    with client.audio.speech.with_streaming_response.create(
        input="Hello world.", response_format="pcm", extra_body=extra, **request
    ) as response:
        return b"".join(response.iter_bytes())


def assert_same_audio(served: bytes, alone: bytes) -> None:
    """The same codes, so the same length; the samples agree to float rounding (1 LSB): each process's
    engine picks its CPU thread count by its own load (qwen_tts/threads.py), and the codec convolutions round
    by it."""
    a, b = np.frombuffer(served, dtype="<i2"), np.frombuffer(alone, dtype="<i2")
    assert a.shape == b.shape and a.size > 0
    assert np.abs(a.astype(np.int32) - b).max() <= 1


def test_a_seeded_stream_matches_the_embedded_mode(distributed_url: str, embedded_url: str) -> None:
    audio = speech(distributed_url, model="tts-1", voice="alloy")
    samples = np.frombuffer(audio, dtype="<i2")
    assert 0 < samples.size <= MAX_FRAMES * FRAME and samples.size % FRAME == 0
    assert_same_audio(audio, speech(embedded_url, model="tts-1", voice="alloy"))


def test_one_worker_serves_both_variants(distributed_url: str, embedded_url: str) -> None:
    design = {"model": "tiny-VoiceDesign", "voice": "alloy", "instructions": "a warm calm voice"}
    custom = {"model": "tiny-CustomVoice", "voice": "echo"}
    for request in (design, custom):
        assert_same_audio(speech(distributed_url, **request), speech(embedded_url, **request))


def test_concurrent_requests_on_one_worker_are_decoded_together_with_valid_audio(
    distributed_url: str, embedded_url: str
) -> None:
    requests = [{"model": "tts-1", "voice": voice} for voice in ("alloy", "echo", "fable")]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:  # the worker's batch holds 4
        results = list(pool.map(lambda request: speech(distributed_url, **request), requests))
    for request, audio in zip(requests, results, strict=True):
        samples = np.frombuffer(audio, dtype="<i2")
        assert 0 < samples.size <= MAX_FRAMES * FRAME and samples.size % FRAME == 0
        alone = np.frombuffer(speech(embedded_url, **request), dtype="<i2")
        # the same codes in a batch as alone; the decoded samples agree to float rounding (1 LSB)
        assert samples.shape == alone.shape
        assert np.abs(samples.astype(np.int32) - alone).max() <= 1, request
