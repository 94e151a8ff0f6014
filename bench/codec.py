"""Streaming codec decode of many streams: one ``decode_step`` per stream against one ``decode_many`` call.

``python -m bench.codec [--streams 16] [--frames 4] [--rounds 5] [--threads 1] [--device cpu] [--dtype
float32]`` builds the codec decoder at the released shapes (``bench/real_shapes.py``) with random weights and
decodes ``--streams`` streams, each at its own frame (spread over 0 to 150, so some are younger than the
72-frame attention window and some past it), ``--frames`` new frames each per round. Each variant keeps its
own states and advances them every round; the figures are the fastest round of each, interleaved (the machine
is shared). A call has a fixed part — reading the weights and the per-call overheads (on a GPU, launching
kernels) — which ``decode_many`` pays once for all the streams, and a part that grows with the frames decoded
(on this project's CPUs mostly the convolutions of the last upsampling blocks), which it does not change.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.real_shapes import speech_tokenizer_config
from qwen_tts import tiny_spec
from qwen_tts.codec import CodecConfig, CodecDecoder, SpeechTokenizer, StreamState
from qwen_tts.tiny_weights import init_weights

MAX_START_FRAME = 150


def build_decoder(device: str, dtype: torch.dtype) -> CodecDecoder:
    config = CodecConfig.from_dict(speech_tokenizer_config(tiny_spec))
    model = SpeechTokenizer(config, with_encoder=False).eval()
    init_weights(model, seed=0)
    return model.decoder.to(device=device, dtype=dtype)


def started_streams(
    decoder: CodecDecoder, codes: torch.Tensor, starts: list[int]
) -> tuple[list[StreamState], list[int]]:
    """One state per stream, each decoded alone up to its start frame."""
    states = []
    for row, start in enumerate(starts):
        state = decoder.init_state(1)
        if start:
            decoder.decode_step(codes[row : row + 1, :start], state)
        states.append(state)
    return states, list(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--frames", type=int, default=4, help="new frames per stream per call")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    decoder = build_decoder(args.device, dtype)
    total = MAX_START_FRAME + (args.rounds + 1) * args.frames
    codes = torch.randint(0, 2048, (args.streams, total, 16), generator=torch.Generator().manual_seed(0))
    codes = codes.to(device)
    starts = [round(i * MAX_START_FRAME / max(args.streams - 1, 1)) for i in range(args.streams)]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def one_by_one(states: list[StreamState], positions: list[int]) -> None:
        for row, (state, at) in enumerate(zip(states, positions, strict=True)):
            decoder.decode_step(codes[row : row + 1, at : at + args.frames], state)

    def together(states: list[StreamState], positions: list[int]) -> None:
        blocks = [codes[row : row + 1, at : at + args.frames] for row, at in enumerate(positions)]
        decoder.decode_many(blocks, states)

    variants = {"one decode_step per stream": one_by_one, "one decode_many": together}
    runs = {name: started_streams(decoder, codes, starts) for name in variants}
    for name, run in variants.items():  # warm-up round
        run(*runs[name])
        runs[name] = (runs[name][0], [at + args.frames for at in runs[name][1]])
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.rounds):
        for name, run in variants.items():
            states, positions = runs[name]
            sync()
            start = time.perf_counter()
            run(states, positions)
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
            runs[name] = (states, [at + args.frames for at in positions])
    print(
        f"codec decoder, released shapes, {args.device} {args.dtype}, {args.threads} thread(s): "
        f"{args.streams} streams x {args.frames} frames, starts 0..{MAX_START_FRAME}"
    )
    for name, seconds in best.items():
        print(f"  {name:<28} {seconds * 1e3:8.1f} ms")
    print(f"  speed-up {best['one decode_step per stream'] / best['one decode_many']:.1f}x")


if __name__ == "__main__":
    main()
