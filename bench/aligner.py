"""Forced-aligner time per minute of audio at the released Qwen3-ForcedAligner-0.6B shapes (random weights).

    python -m bench.aligner [--threads 2] [--seconds 10 60 300] [--repeat 2] [--dtype float32]

Random weights at the real widths and depths (audio encoder 24 x 1024, decoder 28 x 1024 with 16 / 8 heads
of 128, vocabulary 152064, 5000 classes), built in memory; the tiny checkpoint's tokenizer supplies the
token ids. The transcript runs at 2.5 words per second (150 per minute, narration pace). One ``align`` call
per clip (the aligner is one non-autoregressive pass: features, encoder, decoder, head, fix-up), best of
``--repeat`` after one warm-up; the split between the encoder and the decoder pass comes from timing each.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time

import numpy as np
import torch

from qwen_tts import ForcedAligner, tiny_weights
from qwen_tts.aligner.config import AlignerConfig
from qwen_tts.aligner.encoder import tokens_after_convs
from qwen_tts.aligner.model import AlignerModel
from qwen_tts.aligner.tiny_checkpoint import config_dict, write_tiny_aligner
from qwen_tts.layers.fusion import fuse_projections
from qwen_tts.loading import load_text_tokenizer

log = logging.getLogger("bench.aligner")

REAL_AUDIO = {
    "encoder_layers": 24, "encoder_attention_heads": 16, "encoder_ffn_dim": 4096, "d_model": 1024,
    "output_dim": 1024, "downsample_hidden_size": 480,
}  # fmt: skip
REAL_TEXT = {
    "vocab_size": 152064, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
}  # fmt: skip
WORDS = ("the", "narrator", "reads", "a", "long", "chapter", "of", "the", "book", "slowly", "and", "clearly",
         "while", "the", "listener", "follows")  # fmt: skip
WORDS_PER_SECOND = 2.5


def real_config() -> dict:
    raw = config_dict()
    raw["thinker_config"]["audio_config"].update(REAL_AUDIO)
    raw["thinker_config"]["text_config"].update(REAL_TEXT)
    raw["thinker_config"]["text_config"]["rope_scaling"]["mrope_section"] = [24, 20, 20]
    return raw


def build(dtype: torch.dtype) -> ForcedAligner:
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = load_text_tokenizer(write_tiny_aligner(tmp))
    config = AlignerConfig.from_dict(real_config())
    model = AlignerModel(config)
    tiny_weights.init_weights(model, seed=0)
    model = model.to(dtype).eval()
    fuse_projections(model)
    return ForcedAligner(model, tokenizer, config)


def clip(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    samples = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    words = [WORDS[i % len(WORDS)] for i in range(int(seconds * WORDS_PER_SECOND))]
    return samples, " ".join(words)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0, 300.0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    aligner = build(dtype)
    params = sum(p.numel() for p in aligner.model.parameters())
    cpu = platform.processor() or "cpu"
    log.info("torch %s, %s, %d threads, %s, %.0fM parameters", torch.__version__, cpu, args.threads,
             args.dtype, params / 1e6)  # fmt: skip
    encoder_time = {"s": 0.0}
    encoder = aligner.model.audio_tower
    plain = encoder.forward

    def timed(features):
        start = time.perf_counter()
        try:
            return plain(features)
        finally:
            encoder_time["s"] += time.perf_counter() - start

    encoder.forward = timed
    rng = np.random.default_rng(0)
    warm_samples, warm_text = clip(5.0, rng)
    aligner.align(warm_samples, 16000, warm_text, "English")
    log.info(
        "| audio | words | prompt tokens | best align (s) | encoder (s) | s per audio minute | x real time |"
    )
    log.info("|---|---|---|---|---|---|---|")
    for seconds in args.seconds:
        samples, text = clip(seconds, rng)
        best, best_encoder = float("inf"), 0.0
        for _ in range(args.repeat):
            encoder_time["s"] = 0.0
            start = time.perf_counter()
            timings = aligner.align(samples, 16000, text, "English")
            elapsed = time.perf_counter() - start
            if elapsed < best:
                best, best_encoder = elapsed, encoder_time["s"]
        features = aligner.features(samples, 16000)
        tokens = len(
            aligner.prompt_ids(aligner.split_words(text, "English"), tokens_after_convs(features.shape[1]))
        )
        log.info("| %.0f s | %d | %d | %.2f | %.2f | %.2f | %.2f |", seconds, len(timings), tokens, best,
                 best_encoder, best / (seconds / 60.0), seconds / best)  # fmt: skip


if __name__ == "__main__":
    main()
