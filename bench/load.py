"""Load: 64 concurrent streams against an embedded server on loopback, tiny model; errors, TTFA, memory.

    python -m bench.load [--streams 64] [--duration-s 60] [--frames 24] [--max-queue-wait-s 10]

Starts ``qwen3-tts serve`` (engine in-process, SQLite) over a tiny random-weight checkpoint as a real process
on 127.0.0.1, warms it, then keeps ``--streams`` clients streaming ``/v1/audio/speech`` back to back for
``--duration-s`` (a soak with ``--duration-s 600``). Per request: its status (429s must carry Retry-After;
any 5xx or dropped connection is an error), its time to the first body byte (TTFA, 200s only). The server's
resident memory (its process tree) is read after the warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

from bench.service import free_port, process, tiny_env, wait_ready

TEXT = "Hello there. This sentence is long enough to stream several chunks of audio."


def rss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


async def client_loop(
    client: httpx.AsyncClient, url: str, until: float, statuses: Counter, ttfa: list[float], errors: list[str]
) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm", "stream": True}
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
                first = None
                async for _chunk in response.aiter_bytes():
                    first = first or time.perf_counter()
                statuses[response.status_code] += 1
                if response.status_code == 200 and first is not None:
                    ttfa.append(first - started)
                elif response.status_code == 429:
                    if "retry-after" not in response.headers:
                        errors.append("429 without Retry-After")
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                elif response.status_code >= 500:
                    errors.append(f"{response.status_code}")
        except httpx.HTTPError as e:
            statuses["transport-error"] += 1
            errors.append(type(e).__name__)


async def run_load(url: str, streams: int, duration_s: float) -> tuple[Counter, list[float], list[str]]:
    statuses: Counter = Counter()
    ttfa: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        until = time.monotonic() + duration_s
        loops = [client_loop(client, url, until, statuses, ttfa, errors) for _ in range(streams)]
        await asyncio.gather(*loops)
    return statuses, ttfa, errors


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--frames", type=int, default=24, help="max codec frames per piece (80 ms each)")
    parser.add_argument("--max-queue-wait-s", type=float, default=10.0)
    parser.add_argument("--start-timeout", type=float, default=600.0)
    args = parser.parse_args()

    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_checkpoint(Path(tmp) / "tiny", "custom_voice")
        env = tiny_env(model, args.frames) | {
            "QWEN_TTS_MAX_QUEUE_WAIT_S": str(args.max_queue_wait_s),
            "QWEN_TTS_MAX_QUEUE_DEPTH": "1000",
            "QWEN_TTS_DATA_DIR": f"{tmp}/data",
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with process(["serve", "--host", "127.0.0.1", "--port", str(port)], env) as server:
            wait_ready(url, args.start_timeout)
            asyncio.run(run_load(url, 4, 5.0))  # warm-up
            before = rss_mib(server.pid)
            started = time.monotonic()
            statuses, ttfa, errors = asyncio.run(run_load(url, args.streams, args.duration_s))
            elapsed = time.monotonic() - started
            after = rss_mib(server.pid)
    served = statuses.get(200, 0)
    print(f"{args.streams} concurrent streams for {elapsed:.0f} s (tiny model, embedded, loopback)")
    print(f"statuses: {dict(sorted(statuses.items(), key=str))}; errors: {len(errors)} {Counter(errors)}")
    print(f"served: {served} ({served / elapsed:.1f}/s)")
    p50, p95 = percentile(ttfa, 50) * 1000, percentile(ttfa, 95) * 1000
    print(f"TTFA of 200s: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    growth = after / before - 1
    print(f"server RSS: {before:.0f} MiB after warm-up, {after:.0f} MiB at the end ({growth:+.1%})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
