"""Load: 64 concurrent streams on loopback, tiny model, embedded or distributed; errors, TTFA, memory drift.

    python -m bench.load [--mode embedded|distributed] [--streams 64] [--duration-s 120] [--frames 24]
                         [--max-queue-wait-s 10] [--warmup-s 30] [--sample-s 30]
                         [--burn N --burn-at-s 30 --burn-s 60]

``embedded``: ``qwen3-tts serve`` (engine in-process, SQLite). ``distributed``: the API process
(``qwen3-tts serve`` with a Redis URL) and 2 ``qwen3-tts worker`` processes, over a private Redis and a
private Postgres on free loopback ports (``tests.faults.servers``, as the fault suite starts them); blobs in
the local blob folder (speech with a built-in voice reads and writes no blob, so no S3). Both over a tiny
random-weight checkpoint. ``--streams`` clients stream ``/v1/audio/speech`` back to back for
``--warmup-s`` (not counted), then for ``--duration-s`` (a soak with ``--duration-s 600``). Per request:
its status (429s must carry Retry-After, and the client backs off for it; any 5xx, dropped connection or
empty 200 is an error), its time to the first body byte (TTFA, 200s only). Memory: the resident set of the
API's process tree and of each worker's (Celery parent and child) after the warm-up, every ``--sample-s``
and at the end; the drift is the largest sample's change from the first. ``--burn N``: N busy-loop processes
from ``--burn-at-s`` into the measured run for ``--burn-s``, so the engines slow down mid-run (as on a busy
shared machine) and the wait estimate must follow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.service import free_port, process, tiny_env, wait_ready

TEXT = "Hello there. This sentence is long enough to stream several chunks of audio."
WORKERS = 2


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    ttfa: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Memory:
    """RSS (MiB) of each process tree, one row per sample."""

    names: list[str]
    samples: list[list[float]] = field(default_factory=list)

    def drift(self, column: int) -> tuple[float, float]:
        """(largest change from the first sample, change at the end), as fractions."""
        first = self.samples[0][column]
        changes = [row[column] / first - 1 for row in self.samples]
        return max(changes, key=abs), changes[-1]


@dataclass
class Cluster:
    url: str
    pids: dict[str, int]  # the root process of each tree measured
    redis: Callable[[], str] | None = None  # the broker's keys and memory (stream keys left behind show)


def rss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


async def client_loop(client: httpx.AsyncClient, url: str, until: float, tally: Tally) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm", "stream": True}
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
                first, size = None, 0
                async for chunk in response.aiter_bytes():
                    first = first or time.perf_counter()
                    size += len(chunk)
                tally.statuses[response.status_code] += 1
                if response.status_code == 200:
                    if first is None or size == 0:
                        tally.errors.append("empty 200")
                    else:
                        tally.ttfa.append(first - started)
                elif response.status_code == 429:
                    if "retry-after" not in response.headers:
                        tally.errors.append("429 without Retry-After")
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                elif response.status_code >= 500:
                    tally.errors.append(f"{response.status_code}")
        except httpx.HTTPError as e:
            tally.statuses["transport-error"] += 1
            tally.errors.append(type(e).__name__)


async def run_load(
    url: str,
    streams: int,
    duration_s: float,
    *,
    sample: Callable[[], None] | None = None,
    every_s: float = 30,
) -> Tally:
    """``sample`` runs at the start, every ``every_s`` and once the clients are done."""
    tally = Tally()
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(every_s)
            await asyncio.to_thread(sample)

    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        until = time.monotonic() + duration_s
        ticker = None
        if sample is not None:
            await asyncio.to_thread(sample)
            ticker = asyncio.create_task(sampler())
        await asyncio.gather(*(client_loop(client, url, until, tally) for _ in range(streams)))
        if ticker is not None:
            ticker.cancel()
            await asyncio.to_thread(sample)
    return tally


@contextlib.contextmanager
def embedded(tmp: str, base: dict[str, str], timeout_s: float) -> Iterator[Cluster]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base | {"QWEN_TTS_DATA_DIR": f"{tmp}/data"}
    with process(["serve", "--host", "127.0.0.1", "--port", str(port)], env) as server:
        wait_ready(url, timeout_s)
        yield Cluster(url, {"API": server.pid})


@contextlib.contextmanager
def distributed(tmp: str, base: dict[str, str], timeout_s: float) -> Iterator[Cluster]:
    import redis

    from common.settings import load_settings
    from tests.faults.servers import private_postgres, private_redis
    from voice_store.db import upgrade_schema
    from workers.contracts import worker_key

    with private_redis(persistent=False) as broker, private_postgres() as database:
        upgrade_schema(database.url)
        env = base | {
            "QWEN_TTS_DATA_DIR": f"{tmp}/data",
            "QWEN_TTS_REDIS_URL": broker.url,
            "QWEN_TTS_DATABASE_URL": database.url,
            "QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": "load",
        }
        Path(f"{tmp}/data").mkdir()
        prefix = load_settings(env=env).distributed.key_prefix
        hostnames = [f"cpu{n}@load" for n in range(WORKERS)]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with contextlib.ExitStack() as stack:
            worker = ["worker", "--models", "tiny", "--hostname"]
            workers = [stack.enter_context(process([*worker, h], env)) for h in hostnames]
            client = stack.enter_context(redis.Redis.from_url(broker.url))
            deadline = time.monotonic() + timeout_s
            while not all(client.exists(worker_key(prefix, h)) for h in hostnames):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the workers were not up within {timeout_s} s")
                time.sleep(0.5)
            api = stack.enter_context(process(["serve", "--host", "127.0.0.1", "--port", str(port)], env))
            wait_ready(url, timeout_s)
            pids = {"API": api.pid} | {f"worker {n + 1}": w.pid for n, w in enumerate(workers)}

            def broker_use() -> str:
                return f"{client.dbsize()} keys, {client.info('memory')['used_memory'] / 2**20:.1f} MiB"

            yield Cluster(url, pids, redis=broker_use)


@contextlib.contextmanager
def burning(count: int, at_s: float, for_s: float) -> Iterator[None]:
    """``count`` processes spinning on a core from ``at_s`` for ``for_s`` seconds (none with ``count`` 0)."""
    spin = [sys.executable, "-c", "while True: pass"]
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.extend(subprocess.Popen(spin) for _ in range(count))
        ending = threading.Timer(for_s, stop)
        ending.daemon = True
        ending.start()

    def stop() -> None:
        for proc in procs:
            proc.kill()
            proc.wait()

    timer = threading.Timer(at_s, start) if count else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
        stop()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def report(args: argparse.Namespace, tally: Tally, memory: Memory, elapsed: float, load: tuple) -> None:
    served = tally.statuses.get(200, 0)
    print(f"{args.streams} concurrent streams for {elapsed:.0f} s (tiny model, {args.mode}, loopback)")
    print(f"statuses: {dict(sorted(tally.statuses.items(), key=str))}; errors: {len(tally.errors)}")
    if tally.errors:
        print(f"errors: {Counter(tally.errors)}")
    print(f"served: {served} ({served / elapsed:.2f}/s)")
    p50, p95 = percentile(tally.ttfa, 50), percentile(tally.ttfa, 95)
    print(
        f"TTFA of 200s: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(tally.ttfa, default=float('nan')):.2f} s"
    )
    for column, name in enumerate(memory.names):
        first, last = memory.samples[0][column], memory.samples[-1][column]
        worst, end = memory.drift(column)
        print(f"{name} RSS: {first:.0f} → {last:.0f} MiB (end {end:+.1%}, max drift {worst:+.1%})")
    print(f"samples (MiB, every {args.sample_s:g} s): {[[round(v) for v in row] for row in memory.samples]}")
    print(f"load average before: {load[0]}, after: {load[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["embedded", "distributed"], default="embedded")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--warmup-s", type=float, default=30.0, help="the same load, not counted")
    parser.add_argument("--sample-s", type=float, default=30.0, help="memory sampling interval")
    parser.add_argument("--frames", type=int, default=24, help="max codec frames per piece (80 ms each)")
    parser.add_argument("--max-queue-wait-s", type=float, default=10.0)
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--burn", type=int, default=0, help="busy-loop processes started mid-run")
    parser.add_argument("--burn-at-s", type=float, default=30.0)
    parser.add_argument("--burn-s", type=float, default=60.0)
    args = parser.parse_args()

    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    cluster = embedded if args.mode == "embedded" else distributed
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_checkpoint(Path(tmp) / "tiny", "custom_voice")
        base = tiny_env(model, args.frames) | {
            "QWEN_TTS_MAX_QUEUE_WAIT_S": str(args.max_queue_wait_s),
            "QWEN_TTS_MAX_QUEUE_DEPTH": "1000",  # the wait bound is what refuses
        }
        with cluster(tmp, base, args.start_timeout) as running:
            url, pids = running.url, running.pids
            asyncio.run(run_load(url, args.streams, args.warmup_s))
            broker = [running.redis()] if running.redis else []
            memory = Memory(list(pids))
            load_before = os.getloadavg()
            started = time.monotonic()
            with burning(args.burn, args.burn_at_s, args.burn_s):
                tally = asyncio.run(
                    run_load(
                        url,
                        args.streams,
                        args.duration_s,
                        sample=lambda: memory.samples.append([rss_mib(pid) for pid in pids.values()]),
                        every_s=args.sample_s,
                    )
                )
            elapsed = time.monotonic() - started
            load_after = os.getloadavg()
            if running.redis:
                broker.append(running.redis())
    report(args, tally, memory, elapsed, (fmt_load(load_before), fmt_load(load_after)))
    if broker:
        print(f"redis after the warm-up: {broker[0]}; at the end: {broker[1]}")
    return 1 if tally.errors else 0


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in load)


if __name__ == "__main__":
    sys.exit(main())
