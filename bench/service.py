"""Time to first audio and per-chunk latency, distributed path vs embedded, tiny model on loopback.

    python -m bench.service [--requests 40] [--redis-url redis://127.0.0.1:6379/0] [--frames 24]

Starts, as real processes on this machine: an embedded server (`qwen3-tts serve`, engine in-process) and the
distributed pair (`qwen3-tts worker` + `qwen3-tts serve` with a Redis URL; SQLite as the store, so only Redis
is needed), both over the same tiny random-weight checkpoint. Requests alternate between the two servers, so
both see the same machine load. Per request: time to the first body byte, the gaps between body chunks as the
client receives them, and the time to the last byte. Prints a table and the distributed overhead.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
        [sys.executable, "-m", "common.cli", *args], cwd=ROOT, env=env, start_new_session=True
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(results: dict[str, Samples]) -> None:
    header = (
        f"{'path':<12}{'first audio p50':>17}{'p90':>9}{'chunk gap p50':>15}{'p90':>9}{'last byte p50':>15}"
    )
    lines = [header, "-" * len(header)]
    for name, s in results.items():
        first, gaps = s.first_audio_ms, s.chunk_gap_ms
        lines.append(
            f"{name:<12}{statistics.median(first):>14.1f} ms{percentile(first, 0.9):>6.1f} ms"
            f"{statistics.median(gaps):>12.1f} ms{percentile(gaps, 0.9):>6.1f} ms"
            f"{statistics.median(s.total_ms):>12.1f} ms"
        )
    embedded, distributed = results["embedded"], results["distributed"]
    overhead = statistics.median(distributed.first_audio_ms) - statistics.median(embedded.first_audio_ms)
    lines.append(f"\ndistributed overhead on first audio (median): {overhead:+.1f} ms")
    sys.stdout.write("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--frames", type=int, default=24, help="max codec frames per request (80 ms each)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    args = parser.parse_args()

    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_checkpoint(Path(tmp) / "tiny", "custom_voice")
        base = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
        base |= {
            "HF_HUB_OFFLINE": "1",
            "QWEN_TTS_LOG_LEVEL": "warning",
            "QWEN_TTS_MODELS": json.dumps({"tiny": str(model)}),
            "QWEN_TTS_DEFAULT_MODEL": "tiny",
            "QWEN_TTS_PRELOAD_MODELS": '["tiny"]',
            "QWEN_TTS_MAX_FRAMES_PER_PIECE": str(args.frames),
        }
        namespace = f"bench-{secrets.token_hex(4)}"
        embedded_env = base | {"QWEN_TTS_DATA_DIR": f"{tmp}/embedded"}
        distributed_env = base | {
            "QWEN_TTS_DATA_DIR": f"{tmp}/distributed",
            "QWEN_TTS_REDIS_URL": args.redis_url,
            "QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": namespace,
        }
        Path(f"{tmp}/distributed").mkdir()
        subprocess.run(
            [sys.executable, "-m", "common.cli", "db", "upgrade"], cwd=ROOT, env=distributed_env, check=True
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
        finally:
            drop_namespace(args.redis_url, namespace)
        report(results)
    return 0


def drop_namespace(redis_url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    if keys := list(client.scan_iter(match=f"{namespace}:*", count=500)):
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    sys.exit(main())
