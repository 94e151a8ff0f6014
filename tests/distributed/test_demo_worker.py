"""``qwen3-tts worker --demo`` (issue 19): a real worker process writes and serves the tiny random-weight
models with no weights anywhere, and the distributed API answers speech with them end to end; ``/readyz``
names what is missing while no worker runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.distributed.harness import (
    REPO_ROOT,
    WORKER_START_TIMEOUT_S,
    distributed_env,
    serve_distributed,
    settings_from,
    stop_process_group,
    wait_for_worker,
)
from tests.fixtures.redis_keys import isolated_namespace
from tests.fixtures.s3_server import MotoServer

HOSTNAME = "demo@test"


@pytest.fixture(scope="module")
def env(redis_url: str, migrated_postgres_url: str, moto_server: MotoServer) -> Iterator[dict[str, str]]:
    with isolated_namespace(redis_url, stem="demo-") as namespace, tempfile.TemporaryDirectory() as data:
        yield distributed_env(
            redis_url=redis_url,
            namespace=namespace,
            database_url=migrated_postgres_url,
            s3=moto_server,
            models={"demo-CustomVoice": "/nowhere"},  # the API's view; the worker writes its own
            QWEN_TTS_DATA_DIR=data,
            QWEN_TTS_MAX_FRAMES_PER_PIECE="8",
        )


def test_a_demo_worker_serves_speech_end_to_end_without_weights(env: dict[str, str]) -> None:
    with serve_distributed(env) as url:
        waiting = httpx.get(f"{url}/readyz", timeout=30)
        assert waiting.status_code == 503 and "workers" in waiting.json()["error"]["message"]
        args = ["worker", "--demo", "--models", "demo-CustomVoice", "--hostname", HOSTNAME]
        with tempfile.TemporaryFile() as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "server.cli", *args],
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            client = redis.Redis.from_url(env["QWEN_TTS_REDIS_URL"], socket_timeout=5)
            try:
                prefix = settings_from(env).distributed.key_prefix
                try:
                    status = wait_for_worker(client, prefix, HOSTNAME, timeout_s=WORKER_START_TIMEOUT_S * 2)
                except TimeoutError as e:
                    log.seek(0)
                    raise AssertionError(log.read().decode(errors="replace")[-3000:]) from e
                assert [m.name for m in status.models] == ["demo-CustomVoice"]
                deadline = time.monotonic() + 30
                while httpx.get(f"{url}/readyz", timeout=30).status_code != 200:  # the API's registry refresh
                    assert time.monotonic() < deadline, "the API never saw the demo worker"
                    time.sleep(0.2)
                body = {"model": "demo-CustomVoice", "voice": "vivian", "input": "Hi."}
                body["response_format"] = "pcm"
                response = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=120)
                assert response.status_code == 200, response.text
                assert len(response.content) > 0
            finally:
                stop_process_group(worker)
                client.close()
