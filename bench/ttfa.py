"""Time to first audio through HTTP on loopback, for the demo (tiny) models or any running server.

    python bench/ttfa.py            # starts `qwen3-tts serve --demo` on a free port, measures, stops it
    python bench/ttfa.py --url http://127.0.0.1:8880 --voice alloy --format mp3

Per request: the time from sending the request to the first body byte (streaming), and to the last byte.
Prints the median and 90th percentile over ``--requests`` runs after ``--warmup`` discarded ones.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

log = logging.getLogger("bench.ttfa")
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def demo_server(timeout_s: float, *, settings: dict[str, str] | None = None) -> Iterator[str]:
    """``qwen3-tts serve --demo`` on a free loopback port; with ``settings`` (``QWEN_TTS_*`` variables), a
    plain ``serve`` with those instead (e.g. other checkpoints in ``QWEN_TTS_MODELS``)."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
        env |= {"QWEN_TTS_DATA_DIR": data_dir, "HF_HUB_OFFLINE": "1", "QWEN_TTS_LOG_LEVEL": "warning"}
        env |= settings or {}
        cmd = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            *([] if settings else ["--demo"]),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        server = subprocess.Popen(cmd, cwd=ROOT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    raise RuntimeError(f"the demo server exited with {server.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise TimeoutError(f"the demo server was not ready within {timeout_s} s")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def measure(client: httpx.Client, url: str, body: dict[str, object]) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    size = 0
    with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if first is None and chunk:
                first = time.perf_counter() - started
            size += len(chunk)
    return first or float("nan"), time.perf_counter() - started, size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running server (default: start the demo server)")
    parser.add_argument(
        "--text", default="Hello! This is a short sentence to measure the time to first audio."
    )
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--model", default="tts-1")
    parser.add_argument("--format", default="pcm", choices=["pcm", "wav", "mp3", "opus", "aac", "flac"])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--startup-timeout", type=float, default=180)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    body = {
        "model": args.model,
        "voice": args.voice,
        "input": args.text,
        "response_format": args.format,
        "stream": True,
    }
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(demo_server(args.startup_timeout))
        with httpx.Client(timeout=120) as client:
            for _ in range(args.warmup):
                measure(client, url, body)
            runs = [measure(client, url, body) for _ in range(args.requests)]
    firsts = sorted(r[0] for r in runs)
    totals = sorted(r[1] for r in runs)
    p90 = max(0, round(0.9 * len(runs)) - 1)
    log.info(
        "server: %s  format: %s  requests: %d",
        args.url or "demo (tiny random models)",
        args.format,
        len(runs),
    )
    log.info(
        "time to first audio: median %.1f ms, p90 %.1f ms", 1e3 * statistics.median(firsts), 1e3 * firsts[p90]
    )
    log.info(
        "time to last byte:   median %.1f ms, p90 %.1f ms", 1e3 * statistics.median(totals), 1e3 * totals[p90]
    )
    log.info("body bytes per request: %d", runs[0][2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
