"""Engine speed at the released 0.6B / 1.7B shapes (random weights, forced length), ours vs the official.

    python -m bench.engine                       # 0.6B and 1.7B, 32 frames, fp32 + bf16 (ours), batch 1 4 16
    python -m bench.engine --quick               # smoke run: 0.6B, 6 frames, batch 1 2
    python -m bench.engine --device cuda         # GPU: bf16, batch 1 4 16 64 (records the card)

Per size, a random-weight checkpoint in the released on-disk layout is built once with the OFFICIAL classes
(``bench/_official.py build``, via tools/parity) under ``--cache-dir``; both engines load those files. Every
request is forced to ``--frames`` frames (end of speech impossible). The official package runs in its own
venv (``--official-python``) in a subprocess, before ours, never at the same time.

Reported per engine, dtype and batch: the prefill (ms, once per request); ms per frame after it (per step at
batch B: a step advances every request by a frame; ours: the steady state after every request's first chunk,
since a request's frame 0 is completed as it joins) split into talker / code predictor (15 steps and heads) /
codec decoder / the rest (sampling, embeddings, glue); real-time factor (all compute / audio); time to first
audio (ours: the first streamed chunk, one-frame chunks; official: it does not stream, so its whole call);
aggregate audio seconds per second; peak memory per stream above the resident model. The memory-bandwidth
floor is the weight bytes one frame's generation step reads (talker, 15 predictor steps, heads) / the
bandwidth of a large GEMV measured here; "step x floor" = (ms per frame - codec) / floor.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import _measure, _ours, memory, real_shapes

log = logging.getLogger("bench.engine")
ROOT = Path(__file__).resolve().parents[1]
# 23 tokens with the tiny tokenizer the random-weight checkpoints carry (a released tokenizer: about 18)
QUANTIZED = ("int8",)  # --dtypes entries that are qwen_tts quantize modes (float32 compute)
TEXT = "Hello world, this is the voice of a test, speaking in a calm and warm voice."


def checkpoint(size: str, cache_dir: Path, official_python: str) -> Path:
    """The random-weight checkpoint of ``size``, built once with the official classes."""
    directory = cache_dir / f"official-{size}"
    if (directory / "config.json").is_file() and (directory / ".complete").is_file():
        return directory
    partial = cache_dir / f"official-{size}.partial"
    log.info("building the %s checkpoint in %s (once)", size, directory)
    cmd = [
        official_python,
        str(ROOT / "bench" / "_official.py"),
        "build",
        "--size",
        size,
        "--out",
        str(partial),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    (partial / ".complete").touch()
    if directory.exists():
        raise FileExistsError(f"{directory} exists but is incomplete: remove it")
    partial.rename(directory)
    return directory


def run_official(args: argparse.Namespace, path: Path, dtype: str, batches: list[int]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [
            args.official_python, str(ROOT / "bench" / "_official.py"), "run", "--checkpoint", str(path),
            "--frames", str(args.frames), "--text", TEXT, "--device", args.device, "--dtype", dtype,
            "--json", out.name, "--batch", *map(str, batches),
        ]  # fmt: skip
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        subprocess.run(cmd, check=True, cwd=ROOT, timeout=args.official_timeout)
        return json.loads(Path(out.name).read_text())


def engine_label(engine) -> str:
    """ "ours", with the frame step's compile mode and graphs where they are on."""
    runner = engine.runner
    parts = [f"compile:{runner.compile_mode}"] if runner.compile_mode else []
    return "+".join(["ours", *parts, *(["graphs"] if runner.use_cuda_graphs else [])])


def compute_dtype(dtype: str) -> tuple[str, str | None]:
    """A --dtypes entry -> (the engine's dtype, its ``quantize``): "int8" is float32 compute, int8 weights."""
    return ("float32", dtype) if dtype in QUANTIZED else (dtype, None)


def run_ours(args: argparse.Namespace, path: Path, dtype: str, batches: list[int]) -> tuple[dict, int]:
    # Rows sized for the benchmark's requests (the prompt is ~40 positions), as the service sizes them from
    # its settings: a GPU run at batch 64 must not hold 64 rows of 4096 positions.
    options = {"compile_mode": args.compile_mode, "use_cuda_graphs": args.cuda_graphs}
    torch_dtype, quantize = compute_dtype(dtype)
    loaded = _ours.load(
        path, args.device, torch_dtype, TEXT, max_batch_size=max(batches), max_seq_len=256 + args.frames,
        quantize=quantize, **options,
    )  # fmt: skip
    engine = loaded.engine
    firsts = {}
    for new_voice, label in ((True, "a new voice"), (False, "a voice seen before")):
        firsts[label] = min(
            (_ours.time_to_first_audio(engine, TEXT, args.frames, new_voice) for _ in range(args.repeat)),
            key=lambda r: r["ttfa_s"],
        )
        split = ", ".join(f"{k[:-2]} {1e3 * v:.0f} ms" for k, v in firsts[label].items() if k.endswith("_s"))
        log.info("first audio, %s, %s: %s", dtype, label, split)
    ttfa = firsts["a voice seen before"]["ttfa_s"]  # the table's TTFA; the other is logged and in --json
    single = min(
        # The split's timers wrap module methods: compiled code would break into pieces at each one.
        (
            _ours.measure_stream(engine, TEXT, args.frames, split=not engine.runner.compile_mode)
            for _ in range(args.repeat)
        ),
        key=lambda r: r["total_s"],
    )
    runs = [single | {"ttfa_s": ttfa}]
    for batch in batches:
        if batch > 1:
            _ours.measure_batch(engine, TEXT, 2, batch)  # warm-up
            runs.append(_ours.measure_batch(engine, TEXT, args.frames, batch))
    result = {
        "engine": engine_label(engine),
        "device": args.device,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "load_s": loaded.load_s,
        "model_rss": loaded.model_rss,
        "model_gpu_bytes": loaded.model_gpu_bytes,
        "engine_bytes": engine.memory_bytes(),  # weights + codec + caches (RSS may reuse freed pages)
        "first_audio": firsts,
        "runs": runs,
    }
    bytes_per_frame = _ours.weight_bytes_per_frame(engine)
    result["matrix_products_ms"] = _ours.matrix_products_ms(engine)
    log.info("one frame's matrix products alone, %s: %.1f ms", dtype, result["matrix_products_ms"])
    if args.profile:
        log.info(
            "profile of one %d-frame stream, %s:\n%s",
            args.frames,
            dtype,
            _ours.profile(engine, TEXT, args.frames),
        )
    del engine, loaded
    return result, bytes_per_frame


def _keep_best(best: dict[str, dict], key: str, result: dict) -> None:
    if key not in best or result["runs"][0]["total_s"] < best[key]["runs"][0]["total_s"]:
        best[key] = result


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line)
        cpu = model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if device.startswith("cuda"):
        text = f"{torch.cuda.get_device_name(device)}; host {text}"
    return text


def _per_step_ms(run: dict) -> float:
    if "steady_s" in run:  # ours: the steps after every request's first chunk (frame 0 joins with it)
        return 1e3 * run["steady_s"] / run["steps"]
    # the official package: one step per frame after its prefill (its first talker call)
    return 1e3 * (run["total_s"] - (run.get("prefill_s") or 0.0)) / run["frames"]


def _row(size: str, result: dict, run: dict, floor_ms: float | None, official_ms: float | None) -> str:
    prefill_s = run.get("prefill_s") or 0.0
    per_step = _per_step_ms(run)
    if "steady_s" in run:
        parts = [run.get(k) for k in ("talker_ms", "predictor_ms", "codec_ms")]
    else:
        parts = [None if run.get(k) is None else 1e3 * run[k] / run["frames"] for k in PARTS]
    split = ["" if p is None else f"{p:.1f}" for p in parts]
    rest = ratio = ""
    if None not in parts:
        rest = f"{per_step - sum(parts):.1f}"
    if parts[2] is not None and floor_ms is not None and run["batch"] == 1:
        # the generation step (all but the codec) against its weight-read floor
        ratio = f"{(per_step - parts[2]) / floor_ms:.2f}"
    ttfa = run.get("ttfa_s", run["total_s"])  # the official package does not stream: its whole call
    mem = run["peak_gpu_bytes"] if run.get("peak_gpu_bytes") is not None else run["peak_rss"]
    cells = [
        size, result["engine"].split(" ")[0], result["dtype"], str(run["batch"]), f"{1e3 * prefill_s:.0f}",
        f"{per_step:.1f}", f"{official_ms / per_step:.2f}" if official_ms else "",
        *split, rest, ratio, f"{run['total_s'] / run['audio_s']:.2f}",
        f"{ttfa:.2f}" if run["batch"] == 1 else "", f"{run['audio_s'] / run['total_s']:.2f}",
        f"{max(mem, 0) / 2**20 / run['batch']:.0f}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


PARTS = ("talker_s", "predictor_s", "codec_s")  # the official side's totals
HEADER = (
    "| size | engine | dtype | batch | prefill ms | ms/frame | x official | talker | predictor | codec "
    "| rest | step x floor | RTF | TTFA s | audio s/s | peak MiB/stream |"
)


def _resident(resident: dict[str, dict[str, int]]) -> str:
    parts = []
    for size, by_dtype in resident.items():
        text = f"{size} " + ", ".join(f"{d} {b / 2**20:.0f} MiB" for d, b in by_dtype.items())
        if {"int8", "float32"} <= by_dtype.keys():
            text += f" (int8 / float32 {100 * by_dtype['int8'] / by_dtype['float32']:.1f} %)"
        parts.append(text)
    return "; ".join(parts)


def table(rows: list[tuple[str, dict, dict]], floors_ms: dict[tuple[str, str], float]) -> str:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    official = {
        (size, run["batch"]): _per_step_ms(run) for size, r, run in rows if r["engine"].startswith("official")
    }
    lines += [
        _row(size, result, run, floors_ms.get((size, result["dtype"])), official.get((size, run["batch"])))
        for size, result, run in rows
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", choices=real_shapes.SIZES, default=list(real_shapes.SIZES))
    parser.add_argument("--frames", type=int, help="frames per request, forced (default 32; quick: 6)")
    parser.add_argument("--batch", type=int, nargs="+", help="default: 1 4 16 (CPU), 1 4 16 64 (GPU)")
    parser.add_argument(
        "--dtypes",
        nargs="+",
        help="ours (also int8: quantized); default: float32 bfloat16 (CPU), bfloat16 (GPU)",
    )
    parser.add_argument("--official-dtype", help="default: float32 (CPU), bfloat16 (GPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--repeat", type=int, default=1, help="single-stream runs of ours (best kept)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating rounds of every engine (each one's best kept)"
    )
    parser.add_argument("--no-official", action="store_true")
    parser.add_argument("--compile-mode", help="ours: torch.compile mode of the frame step (default: none)")
    parser.add_argument(
        "--cuda-graphs", action=argparse.BooleanOptionalAction, help="ours: frame graphs (default: CUDA)"
    )
    parser.add_argument("--official-python", default=".cache/qref-venv/bin/python")
    parser.add_argument("--official-timeout", type=float, default=3600)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's top ops (ours)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.6B, 6 frames, batch 1 2")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    if args.quick:
        args.sizes, args.frames, args.batch = ["0.6B"], args.frames or 6, args.batch or [1, 2]
    args.frames = args.frames or 32
    args.batch = args.batch or ([1, 4, 16, 64] if gpu else [1, 4, 16])
    args.dtypes = args.dtypes or (["bfloat16"] if gpu else ["float32", "bfloat16"])
    args.official_dtype = args.official_dtype or ("bfloat16" if gpu else "float32")
    return args


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # a quantized mode's floor: its weight bytes over the float32 GEMV's bandwidth (the memory's)
    measured = {compute_dtype(d)[0] for d in args.dtypes} | {args.official_dtype}
    bandwidth = {d: _measure.gemv_bandwidth(getattr(torch, d), args.device, seconds=1 if args.quick else 3)
                 for d in measured}  # fmt: skip
    rows, results, floors_ms = [], [], {}
    resident: dict[str, dict[str, int]] = {}  # size -> our dtype -> MiB added, each in a process of its own
    for size in args.sizes:
        path = checkpoint(size, args.cache_dir, args.official_python)
        best: dict[str, dict] = {}  # engine/dtype -> its fastest round (single-stream total)
        for _ in range(args.rounds):  # alternating: official, ours per dtype, official, ...
            if not args.no_official:
                _keep_best(best, "official", run_official(args, path, args.official_dtype, args.batch))
            for dtype in args.dtypes:
                ours, weight_bytes = run_ours(args, path, dtype, args.batch)
                floors_ms[(size, dtype)] = 1e3 * weight_bytes / bandwidth[compute_dtype(dtype)[0]]
                ours["weight_bytes_per_frame"] = weight_bytes
                _keep_best(best, dtype, ours)
        for result in best.values():
            results.append((size, result))
            rows += [(size, result, run) for run in result["runs"]]
        if args.device == "cpu":  # in one process one engine's freed pages serve the next: each alone
            threads = args.threads or torch.get_num_threads()
            resident[size] = {d: memory.run_mode(path, d, threads)["model_rss"] for d in args.dtypes}
    lines = [
        f"machine: {machine(args.device)}; {started}",
        f"command: python -m bench.engine {' '.join(sys.argv[1:])}",
        "GEMV bandwidth: " + ", ".join(f"{d} {b / 1e9:.1f} GB/s" for d, b in sorted(bandwidth.items())),
        "floor ms/frame: " + ", ".join(f"{s} {d} {f:.1f}" for (s, d), f in sorted(floors_ms.items())),
        "resident, ours each in a process of its own (bench/memory.py): " + _resident(resident),
        "resident after load in this process (the official: its own; ours: after the others): "
        + ", ".join(
            f"{s} {r['engine'].split(' ')[0]} {r['dtype']} "
            f"{(r['model_gpu_bytes'] or r['model_rss']) / 2**20:.0f} MiB (load {r['load_s']:.1f} s"
            + (f", held {r['engine_bytes'] / 2**20:.0f} MiB)" if "engine_bytes" in r else ")")
            for s, r in results
        ),
        f"frames per request: {args.frames} (forced); text: {len(TEXT)} characters",
        "",
        table(rows, floors_ms),
    ]
    print("\n".join(lines))
    if args.json:
        payload = {"lines": lines, "results": results, "bandwidth": bandwidth, "resident": resident,
                   "floors_ms": {f"{s} {d}": f for (s, d), f in floors_ms.items()}}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
