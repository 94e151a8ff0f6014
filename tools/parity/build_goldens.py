"""Build tiny checkpoints and parity goldens with the OFFICIAL qwen-tts package.

Run with the reference venv's python (see setup_venv.sh):

    .cache/qref-venv/bin/python tools/parity/build_goldens.py [--out .cache/parity]

Writes <out>/checkpoints/<name>/ (the released on-disk layout) and one directory per case with
inputs.json + tensors.safetensors, then MANIFEST.json. The build happens in <out>.partial and replaces <out>
only when complete, so a reader never sees half a set. Layout: tools/parity/README.md.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import cases
import ref_checkpoints
import reference
import torch
from manifest import DEFAULT_OUT, write_manifest

log = logging.getLogger("build_goldens")


def build(out_dir: Path) -> dict:
    started = time.monotonic()
    torch.manual_seed(0)
    # Tiny tensors: one thread is several times faster than two (no fork/join per op, no contention with
    # other processes), and keeps the reductions' order fixed.
    torch.set_num_threads(1)
    official = reference.import_official()
    spec = reference.load_tiny_spec()
    log.info("official qwen-tts %s, torch %s", official.version, torch.__version__)

    checkpoints = ref_checkpoints.build_all(official, spec, out_dir)
    log.info("checkpoints: %s (%.1fs)", ", ".join(checkpoints), time.monotonic() - started)

    wrappers: dict[str, object] = {}

    def wrapper_for(name: str) -> object:
        if name not in wrappers:
            wrappers[name] = official.Qwen3TTSModel.from_pretrained(
                str(checkpoints[name]), dtype=torch.float32
            )
        return wrappers[name]

    written = []
    with torch.inference_mode():
        for case in cases.GENERATION_CASES:
            inputs = cases.run_generation_case(case, wrapper_for(case.checkpoint), out_dir)
            written.append(inputs["case"])
            log.info("%s: %d frames", case.name, inputs["expect"]["num_frames"])
        for ref in cases.CLONE_PROMPT_REFERENCES:
            inputs = cases.run_clone_prompt_case(ref, wrapper_for("base_0b6"), official, out_dir)
            written.append(inputs["case"])
        tokenizer = official.Qwen3TTSTokenizer.from_pretrained(
            str(checkpoints["customvoice_0b6"] / "speech_tokenizer")
        )
        for frames in cases.CODEC_DECODE_FRAMES:
            written.append(cases.run_codec_decode_case(frames, tokenizer, out_dir)["case"])
        for ref in cases.CODEC_ENCODE_REFERENCES:
            written.append(cases.run_codec_encode_case(ref, tokenizer, out_dir)["case"])
    check_early_eos(out_dir)
    return {
        "official_version": official.version,
        "torch_version": torch.__version__,
        "checkpoints": {name: str(path.relative_to(out_dir)) for name, path in checkpoints.items()},
        "cases": written,
        "build_seconds": round(time.monotonic() - started, 1),
    }


def check_early_eos(out_dir: Path) -> None:
    """The early-EOS case exists to exercise EOS handling; fail the build if it stopped doing so."""
    import json

    path = out_dir / "customvoice_early_eos" / "inputs.json"
    if path.exists():
        expect = json.loads(path.read_text())["expect"]
        if not expect["ended_with_eos"] or expect["num_frames"] != 2:
            raise RuntimeError(f"customvoice_early_eos should end by EOS after 2 frames, got {expect}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("transformers", "qwen_tts"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    out_dir: Path = args.out.resolve()
    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    summary = build(partial)
    write_manifest(partial, summary)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    log.info("goldens written to %s in %.1fs", out_dir, summary["build_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
