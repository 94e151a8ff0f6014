"""Realtime WebSocket latency: text fed token by token at an LLM's pace, time to each turn's first audio.

    python -m bench.realtime                      # the demo server (tiny random models), started here
    python -m bench.realtime --real-shapes        # a server over the released 0.6B shapes (random weights)
    python -m bench.realtime --url http://127.0.0.1:8880 --voice alloy

Each session speaks ``--turns`` turns of ``--text`` over ``WS /v1/audio/speech/stream``: the text is cut into
word-sized tokens sent ``--tokens-per-s`` apart, then ``input.done``. Measured per turn: from sending the
token that ends the first sentence (its final punctuation) to receiving that sentence's first audio byte. This
includes the splitter waiting for the next token to confirm the sentence end (one token interval: the
splitter must see what follows a period before it can rule out "Mr." or "3.14"). Reported as p50 / p95 at
each ``--concurrency`` (sessions running at once), with the time to the turn's ``session.done``.

``--real-shapes`` serves the random-weight 0.6B-CustomVoice checkpoint that ``bench/engine.py`` builds with
the official classes (``--cache-dir``, default .cache/bench/official-0.6B). Random weights never emit the
end of speech, so every sentence is capped at ``--frames`` codec frames (``max_new_tokens``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import statistics
import sys
import time
from pathlib import Path

import websockets

from bench.ttfa import demo_server

log = logging.getLogger("bench.realtime")
ROOT = Path(__file__).resolve().parents[1]
TEXT = "Sure, here is a short answer to that. It has a second sentence too. And a third one."


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens with their leading space, punctuation split off as an LLM's tokenizer does."""
    return re.findall(r"\s*\w+|\s*[^\w\s]+", text)


def first_sentence_end(tokens: list[str]) -> int:
    """Index of the token carrying the first sentence's final punctuation."""
    return next(i for i, token in enumerate(tokens) if re.search(r"[.!?]", token))


async def turn(ws: websockets.ClientConnection, tokens: list[str], interval_s: float) -> tuple[float, float]:
    """One turn: (end of the first sentence → its first audio byte, first token → session.done), seconds."""
    end_index = first_sentence_end(tokens)
    marks: dict[str, float] = {}

    async def feed() -> None:
        for index, token in enumerate(tokens):
            await ws.send(json.dumps({"type": "input.text", "text": token}))
            now = time.perf_counter()
            marks.setdefault("start", now)
            if index == end_index:
                marks["sentence_end"] = now
            await asyncio.sleep(interval_s)
        await ws.send(json.dumps({"type": "input.done"}))

    feeder = asyncio.create_task(feed())
    first_audio = None
    async for frame in ws:
        if isinstance(frame, bytes):
            first_audio = first_audio or time.perf_counter()
            continue
        event = json.loads(frame)
        if event["type"] == "error":
            raise RuntimeError(f"the server refused: {event}")
        if event["type"] == "session.done":
            break
    await feeder
    assert first_audio is not None, "no audio in the turn"
    return first_audio - marks["sentence_end"], time.perf_counter() - marks["start"]


async def session(url: str, config: dict[str, object], args: argparse.Namespace) -> list[tuple[float, float]]:
    ws_url = url.replace("http://", "ws://", 1) + "/v1/audio/speech/stream"
    tokens = tokens_of(args.text)
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "session.config", **config}))
        return [await turn(ws, tokens, 1.0 / args.tokens_per_s) for _ in range(args.turns)]


async def level(url: str, config: dict[str, object], args: argparse.Namespace, sessions: int) -> list:
    results = await asyncio.gather(*(session(url, config, args) for _ in range(sessions)))
    return [sample for per_session in results for sample in per_session]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def real_shapes_settings(cache_dir: Path, frames: int) -> dict[str, str]:
    checkpoint = cache_dir / "official-0.6B"
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(f"{checkpoint} is missing: build it with `python -m bench.engine` first")
    return {
        "QWEN_TTS_MODELS": json.dumps({"shapes-0.6B-CustomVoice": str(checkpoint)}),
        "QWEN_TTS_DEFAULT_MODEL": "shapes-0.6B-CustomVoice",
        "QWEN_TTS_PRELOAD_MODELS": json.dumps(["shapes-0.6B-CustomVoice"]),
        "QWEN_TTS_MAX_FRAMES_PER_PIECE": str(max(frames, 64)),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running server (default: start one here)")
    parser.add_argument("--real-shapes", action="store_true", help="serve the random-weight 0.6B checkpoint")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--format", default="pcm", choices=["pcm", "wav", "mp3", "opus"])
    parser.add_argument("--tokens-per-s", type=float, default=30.0)
    parser.add_argument("--frames", type=int, default=24, help="max_new_tokens: codec frames per sentence")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--turns", type=int, default=5, help="turns per session at each level")
    parser.add_argument("--startup-timeout", type=float, default=600)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = {"voice": args.voice, "response_format": args.format, "max_new_tokens": args.frames, "seed": 1}
    with contextlib.ExitStack() as stack:
        settings = real_shapes_settings(args.cache_dir, args.frames) if args.real_shapes else None
        url = args.url or stack.enter_context(demo_server(args.startup_timeout, settings=settings))
        asyncio.run(level(url, config, args, 1))  # warm-up: first requests compile and fill caches
        name = args.url or ("released 0.6B shapes, random weights" if args.real_shapes else "demo (tiny)")
        log.info("server: %s  format: %s  %g tokens/s  %d frames/sentence", name, args.format,
                 args.tokens_per_s, args.frames)  # fmt: skip
        log.info("| sessions | turns | sentence end → first audio p50 / p95 (ms) | turn p50 (ms) |")
        for sessions in args.concurrency:
            samples = asyncio.run(level(url, config, args, sessions))
            firsts = [s[0] * 1e3 for s in samples]
            turns = [s[1] * 1e3 for s in samples]
            log.info("| %d | %d | %.0f / %.0f | %.0f |", sessions, len(samples), statistics.median(firsts),
                     percentile(firsts, 0.95), statistics.median(turns))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
