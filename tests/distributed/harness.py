"""Real processes for the distributed tests: Celery worker processes and a uvicorn API on loopback.

Every run uses its own Redis key prefix (queues included, through Celery's ``global_keyprefix``), its own
Postgres database and moto bucket, so parallel runs never meet. Worker processes run in their own session;
teardown sends SIGTERM to that process group, then SIGKILL after a timeout: nothing is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import redis

from common.settings import Settings, load_settings
from server.composition import build_distributed_services
from tests.fixtures.s3_server import MotoServer
from tests.service.harness import serve
from web.app import create_app
from workers.contracts import WorkerStatus, worker_key

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT_S = 90.0
WORKER_STOP_TIMEOUT_S = 15.0


def distributed_env(
    *,
    redis_url: str,
    namespace: str,
    database_url: str,
    s3: MotoServer,
    models: Mapping[str, str],
    **extra: str,
) -> dict[str, str]:
    """The ``QWEN_TTS_*`` settings the API and the workers of one test cluster share."""
    env = {
        "QWEN_TTS_S3__BUCKET": f"{namespace}-blobs".lower(),
        "QWEN_TTS_S3__ENDPOINT_URL": s3.endpoint_url,
        "QWEN_TTS_S3__REGION": s3.region,
        "QWEN_TTS_S3__ACCESS_KEY_ID": s3.access_key,
        "QWEN_TTS_S3__SECRET_ACCESS_KEY": s3.secret_key,
        "QWEN_TTS_S3__CREATE_BUCKET": "true",
        "QWEN_TTS_REDIS_URL": redis_url,
        "QWEN_TTS_DATABASE_URL": database_url,
        "QWEN_TTS_MODELS": json.dumps(dict(models)),
        "QWEN_TTS_DEFAULT_MODEL": next(iter(models)),
        "QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": namespace,
        "QWEN_TTS_DISTRIBUTED__LEASE_TTL_S": "1",
        "QWEN_TTS_DISTRIBUTED__START_TIMEOUT_S": "30",
        "QWEN_TTS_DISTRIBUTED__SOFT_SHUTDOWN_TIMEOUT_S": "2",
        "QWEN_TTS_DISTRIBUTED__READINESS_CACHE_S": "0",
    }
    return env | dict(extra)


def settings_from(env: Mapping[str, str]) -> Settings:
    return load_settings(env=dict(env))


def wait_for_worker(client: redis.Redis, prefix: str, hostname: str, *, timeout_s: float) -> WorkerStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (raw := client.get(worker_key(prefix, hostname))) is not None:
            return WorkerStatus.model_validate_json(raw)
        time.sleep(0.05)
    raise TimeoutError(f"worker {hostname} did not publish its status within {timeout_s} s")


@contextlib.contextmanager
def worker_process(
    env: Mapping[str, str],
    *,
    models: str,
    hostname: str,
    tiny: bool = False,
    encoder: str = "default",
    machine: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``tests.distributed.fake_worker`` process, yielded once its child has loaded the models; ``encoder``
    names a fault encoder for job outputs (``tests.jobs.fault_encoders``); ``machine``: the worker runs as if
    on another host of that name (its own UTS namespace, so ``socket.gethostname()`` there says so)."""
    args = [sys.executable, "-m", "tests.distributed.fake_worker", "--models", models, "--hostname", hostname]
    args += ["--encoder", encoder]
    if machine is not None:
        args = [*other_host(), *args, "--machine", machine]
    settings = settings_from(env)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*args, *(["--tiny"] if tiny else [])],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                wait_for_worker(
                    client, settings.distributed.key_prefix, hostname, timeout_s=WORKER_START_TIMEOUT_S
                )
            except TimeoutError as e:
                log.seek(0)
                raise RuntimeError(f"{e}\n{log.read().decode(errors='replace')[-4000:]}") from e
            yield process
        finally:
            stop_process_group(process)
            client.close()


def other_host() -> list[str]:
    """The command prefix that runs a process in a UTS namespace of its own (as root; else in a user namespace
    where it is root): a host name it sets there is its alone. ``unshare`` execs, so the pid stays."""
    namespaces = ["--uts"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--uts"]
    prefix = ["unshare", *namespaces, "--"]
    if not _runs((*prefix, "true")):  # no util-linux, or namespaces not allowed in this container
        pytest.skip("a worker 'on another host' needs `unshare` (util-linux) and UTS namespaces")
    return prefix


@functools.cache
def _runs(command: tuple[str, ...]) -> bool:
    try:
        return subprocess.run(list(command), capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group (Celery's soft shutdown), SIGKILL it if it lingers."""
    for sig, timeout in ((signal.SIGTERM, WORKER_STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # children of a parent that exited first
            os.killpg(process.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def tiny_cluster(
    *,
    redis_url: str,
    database_url: str,
    s3: MotoServer,
    models: Mapping[str, str],
    hostname: str,
    **extra: str,
) -> Iterator[str]:
    """An API process and one worker serving the tiny real checkpoints ``models`` (name -> directory), in a
    Redis namespace of their own; yields the API's URL. ``extra``: more settings environment variables."""
    from tests.fixtures.redis_keys import isolated_namespace

    with isolated_namespace(redis_url) as namespace:
        env = distributed_env(
            redis_url=redis_url,
            namespace=namespace,
            database_url=database_url,
            s3=s3,
            models=dict(models),
            **extra,
        )
        with (
            worker_process(env, models=",".join(models), hostname=hostname, tiny=True),
            serve_distributed(env) as url,
        ):
            yield url


@contextlib.contextmanager
def serve_distributed(env: Mapping[str, str]) -> Iterator[str]:
    """The API process side (``server.composition.build_distributed_services``) on a loopback port."""
    with serve(create_app(build_distributed_services(settings_from(env)))) as url:
        yield url
