"""Time to first audio and per-chunk latency, distributed path vs embedded, tiny model on loopback.

    python -m bench.service [--requests 40] [--redis-url redis://127.0.0.1:6379/0] [--frames 24]

Starts, as real processes on this machine: an embedded server (`qwen3-tts serve`, engine in-process) and the
distributed pair (`qwen3-tts worker` + `qwen3-tts serve` with a Redis URL; SQLite as the store, so only Redis
is needed), both over the same tiny random-weight checkpoint. Requests alternate between the two servers, so
both see the same machine load. Per request: time to the first body byte, the gaps between body chunks as the
client receives them, and the time to the last byte. Then, engine-free, what the distributed path adds: the
dispatch round trip (a canary task to the worker and its reply) and the hop of one chunk through Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Hello there. This sentence is long enough to stream several chunks of audio."


@dataclass
class Samples:
    first_audio_ms: list[float] = field(default_factory=list)
    chunk_gap_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        yield proc
    finally:
        for sig, wait_s in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait_s)
                break


def tiny_env(model: Path, frames: int) -> dict[str, str]:
    """This process's environment without our settings, plus a server of the tiny checkpoint ``model``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
    return env | {
        "HF_HUB_OFFLINE": "1",
        "QWEN_TTS_LOG_LEVEL": "warning",
        "QWEN_TTS_MODELS": json.dumps({"tiny": str(model)}),
        "QWEN_TTS_DEFAULT_MODEL": "tiny",
        "QWEN_TTS_PRELOAD_MODELS": '["tiny"]',
        "QWEN_TTS_MAX_FRAMES_PER_PIECE": str(frames),
    }


def wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} was not ready within {timeout_s} s")


def measure(client: httpx.Client, url: str, samples: Samples | None) -> None:
    body = {
        "model": "tiny",
        "voice": "alloy",
        "input": TEXT,
        "response_format": "pcm",
        "stream": True,
        "seed": 7,
    }
    started = time.perf_counter()
    arrivals = []
    with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if chunk:
                arrivals.append(time.perf_counter())
    if samples is None or not arrivals:
        return
    samples.first_audio_ms.append((arrivals[0] - started) * 1000)
    samples.chunk_gap_ms.extend((b - a) * 1000 for a, b in itertools.pairwise(arrivals))
    samples.total_ms.append((arrivals[-1] - started) * 1000)


def dispatch_round_trips(settings: Any, model: str, count: int) -> list[float]:
    """A canary task through the broker to the worker and its reply back: the dispatch cost of a request."""
    import redis

    from workers.celery_app import create_celery_app
    from workers.contracts import CANARY_TASK, CanaryPayload, model_queue

    app, client = create_celery_app(settings), redis.Redis.from_url(settings.redis_url)
    times = []
    for i in range(count):
        reply_key = f"{settings.distributed.key_prefix}bench-canary:{i}"
        started = time.perf_counter()
        payload = CanaryPayload(reply_key=reply_key).model_dump()
        app.send_task(CANARY_TASK, args=[payload], queue=model_queue(model))
        if client.blpop([reply_key], timeout=30) is None:
            raise TimeoutError("the worker did not answer the canary")
        times.append((time.perf_counter() - started) * 1000)
    app.close()
    client.close()
    return times


def chunk_hops(settings: Any, count: int) -> list[float]:
    """Worker XADD → API XREAD latency of one chunk (writer thread and reader in this process, one clock)."""
    import redis
    import redis.asyncio

    from common.redis_stream import RedisChunkWriter, StreamKeys, StreamLimits
    from common.redis_stream_reader import RedisChunkStream

    keys = StreamKeys.of(settings.distributed.key_prefix, f"bench-hop-{secrets.token_hex(4)}")
    limits = StreamLimits.from_options(settings.distributed)

    def write() -> None:
        writer = RedisChunkWriter(redis.Redis.from_url(settings.redis_url), keys, limits, owner="bench")
        writer.claim()
        for _ in range(count):
            time.sleep(0.005)
            writer.put(struct.pack("<d", time.perf_counter()).ljust(3840, b"\0"))  # 80 ms of s16le
        writer.close()

    async def read() -> list[float]:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            stream = RedisChunkStream(client, keys, limits)
            return [(time.perf_counter() - struct.unpack("<d", c[:8])[0]) * 1000 async for c in stream]
        finally:
            await client.aclose()

    writer = threading.Thread(target=write)
    writer.start()
    hops = asyncio.run(read())
    writer.join()
    return hops


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def row(name: str, values: list[float]) -> str:
    p50, p90 = statistics.median(values), percentile(values, 0.9)
    return f"  {name:<44}{p50:>10.1f}{p90:>10.1f}{len(values):>8}"


def report(results: dict[str, Samples], dispatch: list[float], hops: list[float]) -> None:
    lines = [f"  {'measure (ms)':<44}{'p50':>10}{'p90':>10}{'n':>8}"]
    for name, s in results.items():
        lines += [
            row(f"{name}: first audio", s.first_audio_ms),
            row(f"{name}: gap between chunks", s.chunk_gap_ms),
            row(f"{name}: last byte", s.total_ms),
        ]
    lines += [row("dispatch round trip (canary task)", dispatch), row("chunk hop (XADD -> XREAD)", hops)]
    embedded, distributed = results["embedded"], results["distributed"]
    overhead = statistics.median(distributed.first_audio_ms) - statistics.median(embedded.first_audio_ms)
    transport = statistics.median(dispatch) + statistics.median(hops)
    lines.append(f"\ndistributed - embedded, first audio (median): {overhead:+.1f} ms (engine time included)")
    lines.append(f"transport added to first audio (dispatch + one chunk hop, medians): {transport:.1f} ms")
    sys.stdout.write("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--probes", type=int, default=200, help="engine-free transport measurements")
    parser.add_argument("--frames", type=int, default=24, help="max codec frames per request (80 ms each)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    args = parser.parse_args()

    from common.settings import load_settings
    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_checkpoint(Path(tmp) / "tiny", "custom_voice")
        base = tiny_env(model, args.frames)
        namespace = f"bench-{secrets.token_hex(4)}"
        embedded_env = base | {"QWEN_TTS_DATA_DIR": f"{tmp}/embedded"}
        distributed_env = base | {
            "QWEN_TTS_DATA_DIR": f"{tmp}/distributed",
            "QWEN_TTS_REDIS_URL": args.redis_url,
            "QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": namespace,
        }
        Path(f"{tmp}/distributed").mkdir()
        subprocess.run(
            [sys.executable, "-m", "server.cli", "db", "upgrade"], cwd=ROOT, env=distributed_env, check=True
        )
        ports = free_port(), free_port()
        urls = {"embedded": f"http://127.0.0.1:{ports[0]}", "distributed": f"http://127.0.0.1:{ports[1]}"}
        serve = ["serve", "--host", "127.0.0.1", "--port"]
        results = {name: Samples() for name in urls}
        try:
            with (
                process([*serve, str(ports[0])], embedded_env),
                process(["worker", "--models", "tiny", "--hostname", f"{namespace}@bench"], distributed_env),
                process([*serve, str(ports[1])], distributed_env),
                httpx.Client(timeout=120) as client,
            ):
                for url in urls.values():
                    wait_ready(url, args.start_timeout)
                for _ in range(args.warmup):
                    for url in urls.values():
                        measure(client, url, None)
                for _ in range(args.requests):
                    for name, url in urls.items():
                        measure(client, url, results[name])
                settings = load_settings(env=distributed_env)
                dispatch = dispatch_round_trips(settings, "tiny", args.probes)
                hops = chunk_hops(settings, args.probes)
        finally:
            drop_namespace(args.redis_url, namespace)
        report(results, dispatch, hops)
    return 0


def drop_namespace(redis_url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    if keys := list(client.scan_iter(match=f"{namespace}:*", count=500)):
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    sys.exit(main())
