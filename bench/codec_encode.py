"""Reference audio -> codes: our Mimi encoder against transformers' ``MimiModel`` (the path it replaced).

``python -m bench.codec_encode [--shapes tiny|released] [--seconds 10 20] [--repeat 5] [--threads 1]
[--device cpu]`` builds the 12.5 Hz tokenizer's Mimi encoder at the tiny shapes (``qwen_tts/tiny_spec.py``)
or the released ones (transformers' MimiConfig defaults, ``bench/real_shapes.py``) with random weights, once
as the ``MimiModel`` of the installed transformers (its decoder half left out, as the old
``qwen_tts/codec/encoder.py`` built it) and once as ours with the same weights, and encodes a speech-like
reference of each ``--seconds``. Prints the fastest of ``--repeat`` encodes of each, interleaved (the machine
is shared), and whether the codes agree: they do up to 10 s; past that transformers 5 applies the encoder's
sliding window, which the official package (transformers 4.57) does not, and our encoder does not either.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import time
from pathlib import Path

import torch
from torch import nn

from bench.real_shapes import speech_tokenizer_config
from qwen_tts import tiny_spec
from qwen_tts.codec import CodecConfig
from qwen_tts.codec.encoder import CodecEncoder
from qwen_tts.codec.weights import to_our_names
from qwen_tts.tiny_weights import init_weights


def _reference_audio_module():
    """tools/parity/reference_audio.py (the goldens' speech-like signal), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "tools" / "parity" / "reference_audio.py"
    spec = importlib.util.spec_from_file_location("parity_reference_audio", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# transformers 5's split MimiModel names -> the checkpoint's flat (transformers 4) ones
_TO_CHECKPOINT = (
    (r"^encoder\.encoder_seanet\.", "encoder.encoder."),
    (r"^encoder\.encoder_transformer\.", "encoder.encoder_transformer."),
    (r"^encoder\.downsample\.", "encoder.downsample."),
    (r"^quantizer\.", "encoder.quantizer."),
)


def transformers_mimi(raw: dict) -> nn.Module:
    """transformers' ``MimiModel`` without its decoder half (what ``build_mimi_encoder`` returned)."""
    from transformers import MimiConfig, MimiModel

    config = MimiConfig(**raw)
    if isinstance(getattr(type(config), "decoder_config", None), property):  # transformers >= 5: halves
        config.decoder_config = None
        return MimiModel(config).eval()
    model = MimiModel(config)
    model.upsample = model.decoder_transformer = model.decoder = None
    return model.eval()


def ours_with_weights_of(mimi: nn.Module, config: CodecConfig) -> CodecEncoder:
    ours = CodecEncoder(config.encoder).eval()
    checkpoint = {}
    for name, tensor in mimi.state_dict().items():
        for pattern, replacement in _TO_CHECKPOINT:
            name = re.sub(pattern, replacement, name)
        checkpoint[name if name.startswith("encoder.") else f"encoder.{name}"] = tensor
    renamed = to_our_names(checkpoint, {f"encoder.{name}" for name in ours.state_dict()})
    ours.load_state_dict({name.removeprefix("encoder."): t for name, t in renamed.items()}, strict=True)
    return ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", choices=("tiny", "released"), default="tiny")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    raw = tiny_spec.speech_tokenizer_config() if args.shapes == "tiny" else speech_tokenizer_config(tiny_spec)
    config = CodecConfig.from_dict(raw)
    mimi = transformers_mimi(raw["encoder_config"])
    init_weights(mimi, seed=0)
    ours = ours_with_weights_of(mimi, config).to(device)
    mimi = mimi.to(device)
    num_quantizers = config.num_encoder_quantizers

    def theirs(samples: torch.Tensor) -> torch.Tensor:
        codes = mimi.encode(samples.unsqueeze(1), num_quantizers=num_quantizers, return_dict=True).audio_codes
        return codes.transpose(1, 2)

    variants = {"ours": lambda s: ours.encode(s, num_quantizers), "transformers MimiModel": theirs}
    import transformers

    print(f"{args.shapes} shapes, transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{args.threads} thread(s), {device}")  # fmt: skip
    for seconds in args.seconds:
        audio = _reference_audio_module().reference_audio(config.input_sample_rate, seconds)
        samples = torch.from_numpy(audio)[None].to(device)
        best = dict.fromkeys(variants, float("inf"))
        codes = {}
        with torch.inference_mode():
            for name, run in variants.items():
                codes[name] = run(samples)  # warm-up
            for _ in range(args.repeat):
                for name, run in variants.items():
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    started = time.perf_counter()
                    run(samples)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    best[name] = min(best[name], time.perf_counter() - started)
        a, b = codes["ours"], codes["transformers MimiModel"]
        agree = torch.equal(a, b[:, : a.shape[1]])
        frames = "equal" if agree else f"differ from frame {int((a != b).any(-1)[0].nonzero()[0])}"
        print(f"{seconds:g} s reference, {a.shape[1]} frames: codes {frames}")
        for name, value in best.items():
            print(f"  {name:<24} {value * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
