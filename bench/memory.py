"""Resident memory of a loaded engine per mode (fp32, int8), and where it goes.

    python -m bench.memory --size 0.6B --modes float32 int8

Each mode runs in a process of its own (so one mode's freed pages cannot serve the next), over the
random-weight checkpoint ``bench/engine.py`` builds (``--cache-dir``/official-SIZE, not rebuilt here): the
engine is loaded and warmed up by a short stream (``bench._ours.load``), and the process's resident memory is
read after the load and after the warm-up. The split probes which pages of each part this process maps
(``/proc/self/pagemap``; a page counts once, for the first part that holds it): the talker and code predictor
weights (quantized products counted by their size: their packed memory is not a tensor to probe), the codec
decoder, the codec encoder, the embeddings and text projection, the touched rows of the memory-mapped text
table, the batch's caches and buffers; "rest" is what the model added that none of those hold (allocator
slack, the runtime's own buffers, kernels' workspaces, the prompt-prefix KV cache). The int8/fp32 ratio is of
the memory the model added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench import _measure, _ours

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Hello world, this is the voice of a test, speaking in a calm and warm voice."  # bench/engine.py's
MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")
PARTS = ("weights", "codec_decoder", "codec_encoder", "embeddings", "text_rows", "caches")


def resident_pages(tensor: torch.Tensor) -> np.ndarray:
    """Indices of the pages under ``tensor``'s storage that this process has mapped (``/proc/self/pagemap``'s
    present bit: what its RSS counts; ``mincore`` would also count a mapped file's pages that are merely in
    the page cache)."""
    storage = tensor.untyped_storage()
    if storage.nbytes() == 0:
        return np.zeros(0, dtype=np.int64)
    first = storage.data_ptr() // PAGE
    count = -(-(storage.data_ptr() + storage.nbytes()) // PAGE) - first
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(first * 8)
        entries = np.frombuffer(pagemap.read(count * 8), dtype=np.uint64)
    return first + np.flatnonzero(entries >> np.uint64(63))


def _tensors(*modules) -> list[torch.Tensor]:
    return [t for m in modules if m is not None for t in (*m.parameters(), *m.buffers())]


def parts_of(engine) -> dict[str, list[torch.Tensor]]:
    """Each part's tensors; "weights": every other tensor of the model (talker and predictor stacks, heads,
    norms; the speaker encoder of a Base model)."""
    talker = engine.model.talker
    predictor = talker.code_predictor
    embeddings = _tensors(talker.codec_embedding, predictor.codec_embedding, talker.text_projection)
    batch = engine._batch
    caches = [*batch.caches.talker.k, *batch.caches.talker.v, *batch.caches.predictor.k]
    caches += [*batch.caches.predictor.v, *(t for t in vars(batch).values() if isinstance(t, torch.Tensor))]
    named = {
        "codec_decoder": _tensors(engine.codec.decoder),
        "codec_encoder": _tensors(engine.codec.encoder),
        "embeddings": embeddings,
        "text_rows": [talker.text_embedding.weight],
        "caches": caches,
    }
    taken = {id(t) for ts in named.values() for t in ts}
    return {"weights": [t for t in _tensors(engine.model) if id(t) not in taken], **named}


def split(engine) -> dict[str, int]:
    """Resident bytes per part (a page counted for the first part that holds it) and the quantized products'
    bytes (added to "weights", the text projection's to "embeddings")."""
    from qwen_tts.quant import quantized_bytes

    seen = np.zeros(0, dtype=np.int64)
    result = {}
    for part, tensors in parts_of(engine).items():
        pages = [resident_pages(t) for t in tensors if t.device.type == "cpu" and not t.is_meta]
        mine = np.setdiff1d(np.unique(np.concatenate([seen[:0], *pages])), seen, assume_unique=True)
        seen = np.union1d(seen, mine)
        result[part] = int(mine.size) * PAGE
    projection = quantized_bytes(engine.model.talker.text_projection)
    result["embeddings"] += projection
    result["weights"] += quantized_bytes(engine.model) - projection
    return result


def child(checkpoint: Path, mode: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    dtype, quantize = ("float32", mode) if mode == "int8" else (mode, None)
    runtime = _measure.current_rss()
    loaded = _ours.load(checkpoint, "cpu", dtype, TEXT, quantize=quantize)
    parts = split(loaded.engine)
    return {
        "mode": mode,
        "runtime_rss": runtime,
        "loaded_rss": loaded.loaded_rss,
        "model_rss": loaded.model_rss,
        "parts": parts,
        "rest": loaded.model_rss - sum(parts.values()),
        "memory_bytes": loaded.engine.memory_bytes(),
    }


def run_mode(checkpoint: Path, mode: str, threads: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "bench.memory", "--child", mode, "--checkpoint", str(checkpoint)]
        cmd += ["--threads", str(threads), "--json", out.name]
        subprocess.run(cmd, check=True, cwd=ROOT)
        return json.loads(Path(out.name).read_text())


def table(results: list[dict]) -> str:
    head = ["mode", "after load", "after warm-up", *PARTS, "rest", "memory_bytes()"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["loaded_rss"], r["model_rss"], *(r["parts"][p] for p in PARTS), r["rest"]]
        cells.append(r["memory_bytes"])
        lines.append("| " + " | ".join([r["mode"], *(f"{c / MIB:.0f}" for c in cells)]) + " |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="0.6B")
    parser.add_argument("--modes", nargs="+", default=["float32", "int8"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--checkpoint", type=Path, help="default: CACHE_DIR/official-SIZE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    checkpoint = args.checkpoint or args.cache_dir / f"official-{args.size}"
    if not (checkpoint / ".complete").is_file() and args.checkpoint is None:
        raise SystemExit(f"{checkpoint} is not built: run python -m bench.engine --sizes {args.size} first")
    if args.child:
        args.json.write_text(json.dumps(child(checkpoint, args.child, args.threads)))
        return 0
    results = [run_mode(checkpoint, mode, args.threads) for mode in args.modes]
    print(f"resident MiB, {args.size}, each mode in its own process (runtime before loading: "
          f"{results[0]['runtime_rss'] / MIB:.0f} MiB, not counted)")  # fmt: skip
    print(table(results))
    by_mode = {r["mode"]: r for r in results}
    if "float32" in by_mode and "int8" in by_mode:
        ratio = by_mode["int8"]["model_rss"] / by_mode["float32"]["model_rss"]
        print(f"int8 / float32 after warm-up: {100 * ratio:.1f} %")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
