"""Throughput of a multi-chapter async job, for the demo (tiny) models or any running server.

    python bench/jobs.py          # starts `qwen3-tts serve --demo` on a free port, measures, stops it
    python bench/jobs.py --url http://127.0.0.1:8880 --chapters 5 --chapter-chars 3000 --format mp3

Submits one job of ``--chapters`` chapters of ``--chapter-chars`` characters each, polls it to the end and
prints: segments, characters, audio produced, wall time from submit to succeeded, the real-time factor
(audio seconds per wall second), characters and segments per second, and the time spent after the last
segment (finalize: stitching + encoding + storing).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ttfa import demo_server  # bench scripts run as files, not as a package

log = logging.getLogger("bench.jobs")
SENTENCES = (
    "The lighthouse keeper climbed the stairs again.",
    "Every evening the lamp had to be lit before the fog rolled in.",
    "Nobody in the village remembered a night without its light.",
    "She counted the steps, as she always did, and lost count near the top.",
)


def book(chapters: int, chapter_chars: int) -> list[dict[str, str]]:
    out = []
    for number in range(chapters):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < chapter_chars:
            words.append(SENTENCES[len(words) % len(SENTENCES)])
        out.append({"title": f"Chapter {number + 1}", "text": " ".join(words)})
    return out


def run(url: str, args: argparse.Namespace) -> None:
    chapters = book(args.chapters, args.chapter_chars)
    body = {"voice": args.voice, "chapters": chapters, "response_format": args.format}
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        job = client.post("/v1/jobs", json=body).raise_for_status().json()
        last_segment_at = None
        while job["status"] not in ("succeeded", "failed", "canceled"):
            time.sleep(0.2)
            job = client.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
            progress = job["progress"]
            if last_segment_at is None and progress["segments_done"] == progress["segments_total"]:
                last_segment_at = time.perf_counter()
        wall = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise SystemExit(f"job {job['id']} {job['status']}: {job['error']}")
    progress, chars = job["progress"], sum(len(c["text"]) for c in chapters)
    finalize = wall - (last_segment_at - started) if last_segment_at else float("nan")
    log.info(
        "job %s: %d chapters, %d segments, %d characters",
        job["id"],
        len(chapters),
        progress["segments_total"],
        chars,
    )
    log.info(
        "audio %.1f s in %.1f s wall: real-time factor %.2f×",
        progress["audio_seconds"],
        wall,
        progress["audio_seconds"] / wall,
    )
    log.info(
        "%.0f characters/s, %.2f segments/s; finalize (stitch + encode %s + store) ≈ %.2f s",
        chars / wall,
        progress["segments_total"] / wall,
        args.format,
        finalize,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server (default: start the demo server)")
    parser.add_argument("--chapters", type=int, default=3)
    parser.add_argument("--chapter-chars", type=int, default=2000)
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--format", default="mp3")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.url:
        run(args.url, args)
        return
    with demo_server(args.start_timeout) as url:
        run(url, args)


if __name__ == "__main__":
    main()
