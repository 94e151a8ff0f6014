"""The official qwen-tts package's side of bench/engine.py. Runs in the reference venv (.cache/qref-venv):

    python bench/_official.py build --size 0.6B --out DIR      # random-weight checkpoint, released shapes
    python bench/_official.py run --checkpoint DIR --frames 32 --batch 1 4 --json OUT [--device cuda]

``build`` makes the checkpoint with the official classes (tools/parity/ref_checkpoints.py) in the released
on-disk layout; both engines then load the same files. The codec head's end-of-speech row is zeroed: its
logit stays 0 while the 2048 code logits spread around it, so it never reaches the top-k (nor the argmax)
and every request runs its full length. ``run`` times ``generate_custom_voice`` (the whole public call:
talker, code predictor and the codec decode it ends with) and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "parity"))  # bench/ itself is sys.path[0]

import _measure  # noqa: E402
import real_shapes  # noqa: E402
import ref_checkpoints  # noqa: E402
import reference  # noqa: E402
import torch  # noqa: E402

SIZE_CODES = {"0.6B": "0b6", "1.7B": "1b7"}
MODEL_TYPE = "custom_voice"
SPEAKER = "vivian"


@torch.no_grad()
def build(size: str, out: Path, seed: int) -> None:
    official = reference.import_official()
    spec = real_shapes.released_spec(reference.load_tiny_spec(), size)
    model = ref_checkpoints.build_model(official, spec, MODEL_TYPE, SIZE_CODES[size], seed)
    model.talker.codec_head.weight[spec.CODEC_IDS["codec_eos_token_id"]] = 0.0  # forced length
    codec = ref_checkpoints.build_codec(official, spec)
    ref_checkpoints.write_checkpoint(out, model, codec, spec, MODEL_TYPE, SIZE_CODES[size])


def run(args: argparse.Namespace) -> dict:
    official = reference.import_official()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    rss_before = _measure.current_rss()
    started = time.perf_counter()
    wrapper = official.Qwen3TTSModel.from_pretrained(
        str(args.checkpoint), dtype=dtype, device_map=str(device)
    )
    load_s = time.perf_counter() - started
    model = wrapper.model.eval()
    result = {
        "engine": f"official qwen-tts {official.version}",
        "device": str(device),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "load_s": load_s,
        "model_rss": None,  # after the first warm-up: the checkpoint is memory-mapped, read lazily
        "model_gpu_bytes": torch.cuda.memory_allocated(device) if device.type == "cuda" else None,
        "runs": [],
    }
    gen = {"max_new_tokens": args.frames + 1}  # N tokens give N - 1 frames (the N-th is never completed)
    for batch in args.batch:
        texts, speakers = [args.text] * batch, [SPEAKER] * batch
        wrapper.generate_custom_voice(texts, speakers, language="english", max_new_tokens=3)  # warm-up
        if result["model_rss"] is None:
            result["model_rss"] = _measure.current_rss() - rss_before
        rss_warm = _measure.current_rss()
        watch = _measure.Stopwatch(sync)
        watch.wrap(model.talker, "forward", "talker")
        watch.wrap(model.talker.code_predictor, "generate", "predictor")
        watch.wrap(model.speech_tokenizer, "decode", "codec")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with _measure.RssPeak() as rss:
            sync()
            start = time.perf_counter()
            wavs, rate = wrapper.generate_custom_voice(texts, speakers, language="english", **gen)
            sync()
            total_s = time.perf_counter() - start
        watch.restore()
        frames = [len(w) // 1920 for w in wavs]
        if frames != [args.frames] * batch:
            raise RuntimeError(f"expected {args.frames} frames per request, got {frames}")
        result["runs"].append(
            {
                "batch": batch,
                "frames": args.frames,
                "total_s": total_s,
                "prefill_s": watch.first["talker"],
                "talker_s": watch.seconds["talker"] - watch.first["talker"] - watch.seconds["predictor"],
                "predictor_s": watch.seconds["predictor"],
                "codec_s": watch.seconds["codec"],
                "peak_rss": rss.peak - rss_warm,
                "peak_gpu_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
                "audio_s": sum(len(w) for w in wavs) / rate,
            }
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--size", choices=real_shapes.SIZES, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--checkpoint", type=Path, required=True)
    r.add_argument("--frames", type=int, required=True)
    r.add_argument("--batch", type=int, nargs="+", default=[1])
    r.add_argument("--text", required=True)
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    r.add_argument("--threads", type=int)
    r.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.command == "build":
        build(args.size, args.out, args.seed)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.inference_mode():
        args.json.write_text(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
