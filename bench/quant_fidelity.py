"""Teacher-forced fidelity of int8 against fp32 at the released shapes (random weights, as bench/engine).

    python -m bench.quant_fidelity --size 0.6B --kernels fbgemm onednn weight_only

The talker's codebook-0 logits and the code predictor's logits for codebooks 1..15 over ``--frames`` frames
of random codes (both models read the same inputs), as SNR in dB and top-1 agreement
(``qwen_tts.quant.fidelity``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from qwen_tts import TTSEngine
from qwen_tts.quant.fidelity import model_fidelity

log = logging.getLogger("bench.quant_fidelity")
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="0.6B")
    parser.add_argument("--kernels", nargs="+", default=["fbgemm", "onednn", "weight_only"])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    engine = TTSEngine.from_pretrained(args.cache_dir / f"official-{args.size}", max_seq_len=64)
    groups = engine.config.talker.num_code_groups
    codes = torch.randint(0, 2048, (1, args.frames, groups), generator=torch.Generator().manual_seed(0))
    log.info("| kernel | talker SNR dB | talker top-1 | predictor SNR dB | predictor top-1 |")
    log.info("|---|---|---|---|---|")
    for kernel in args.kernels:
        talker, predictor = model_fidelity(engine.model, codes, kernel=kernel)
        log.info(
            "| %s | %.1f | %.1f %% | %.1f | %.1f %% |",
            kernel, talker.snr_db, 100 * talker.top1, predictor.snr_db, 100 * predictor.top1,
        )  # fmt: skip


if __name__ == "__main__":
    main()
