"""Our engine's speed when other processes want the same cores: ms per frame by torch thread count.

    python -m bench.contention --dtypes int8 float32 --threads 1 2 auto --spinners 0 1 2 --frames 8

A worker rarely has its cores to itself (the API process, a second worker, the machine's other jobs). This
runs one forced-length stream per (dtype, threads, spinners) cell, ``--rounds`` alternating rounds, best kept,
while ``spinners`` busy-loop processes (pure Python, one core each at full demand) compete for the cores. The
checkpoint is the released-shape random-weight one ``bench/engine.py`` builds (``--cache-dir``). ``auto`` is
the engine's default (``cpu_threads="auto"``, ``qwen_tts/threads.py``): its governor, started afresh for
the cell, first decodes ``--settle`` streams under the same load (it probes another count every 24 steps),
then the measured one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time
from pathlib import Path

import torch

from bench import _ours
from bench.engine import TEXT
from qwen_tts.threads import cpu_thread_governor

ROOT = Path(__file__).resolve().parents[1]


def _spin(stop) -> None:  # a process that wants a whole core until told to stop
    while not stop.is_set():
        sum(range(10_000))


class Spinners:
    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._procs = [context.Process(target=_spin, args=(self._stop,), daemon=True) for _ in range(count)]

    def __enter__(self) -> Spinners:
        for proc in self._procs:
            proc.start()
        time.sleep(0.5 if self._procs else 0)  # let them reach full demand
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.join(5)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--size", default="0.6B")
    parser.add_argument("--dtypes", nargs="+", default=["int8", "float32"])
    parser.add_argument("--threads", nargs="+", default=["1", "2", "auto"], help="counts, or auto")
    parser.add_argument("--settle", type=int, default=6, help="auto: streams decoded before the measured one")
    parser.add_argument("--spinners", nargs="+", type=int, default=[0, 2])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    args = parser.parse_args()
    checkpoint = args.cache_dir / f"official-{args.size}"
    if not (checkpoint / ".complete").is_file():
        build = f"python -m bench.engine --sizes {args.size}"
        raise SystemExit(f"no checkpoint at {checkpoint}: run `{build}` once")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"# load average at start: {os.getloadavg()}")
    engines = {}
    for dtype in args.dtypes:
        quantize = dtype if dtype == "int8" else None
        engines[dtype] = _ours.load(checkpoint, "cpu", "float32", TEXT, quantize=quantize).engine
    best: dict[tuple, float] = {}
    for _ in range(args.rounds):
        for spinners in args.spinners:
            with Spinners(spinners):
                for dtype, engine in engines.items():
                    for threads in args.threads:
                        torch.set_num_threads(int(threads) if threads != "auto" else os.cpu_count() or 1)
                        engine._batch.governor = None
                        if threads == "auto":
                            engine._batch.governor = cpu_thread_governor(engine.device, "auto")
                            for _ in range(args.settle):
                                _ours.measure_stream(engine, TEXT, args.frames, split=False)
                        run = _ours.measure_stream(engine, TEXT, args.frames, split=False)
                        ms = 1e3 * run["steady_s"] / run["steps"]
                        key = (dtype, str(threads).split(" ")[0], spinners)
                        best[key] = min(best.get(key, float("inf")), ms)
                        if threads == "auto":
                            threads = f"auto ({engine._batch.governor.current} now)"
                        cell = f"{dtype:8} threads {threads} spinners {spinners}"
                        print(f"{cell}: {ms:8.1f} ms/frame", flush=True)
    print("\n| dtype | torch threads | busy processes | ms/frame (best) |\n|---|---|---|---|")
    for (dtype, threads, spinners), ms in sorted(best.items()):
        print(f"| {dtype} | {threads} | {spinners} | {ms:.1f} |")
    print(f"# load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
