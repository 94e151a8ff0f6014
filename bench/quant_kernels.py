"""Which int8 / int4 matrix-vector kernel to quantize with: the candidates side by side in one process.

    python -m bench.quant_kernels --threads 2 --rounds 7

A decode step multiplies one token by every weight, so a kernel's speed at [1, in] x [in, out] decides the
frame rate. The candidates run in alternating rounds (best of ``--rounds``), on ``--layers`` distinct weights
each (so the weights come from memory, not cache), for the released 0.6B's widest product by default (1024 ->
6144, the fused gate/up): fp32 ``F.linear``; fbgemm dynamic int8 (``quantized.linear_dynamic``, the op behind
the deprecated ``quantize_dynamic``); oneDNN's int8 linear (``onednn.qlinear_pointwise``, the op PyTorch's
supported PT2E/Inductor x86 quantization lowers to) with the activation quantized per call; ``torch._int_mm``
with the activation quantized per call; ``_weight_int8pack_mm`` (weight-only); ``torch.compile``d
dequantize-GEMVs (int8 and packed int4, per-channel / per-group scales); torchao's int8 configs when
installed. Relative output error against fp32 is printed beside each.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
from torch.nn import functional as F

log = logging.getLogger("bench.quant_kernels")
INT4_GROUP = 128


def dequant_int8_gemv(x: torch.Tensor, q: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """x @ (q * scales)^T, written for ``torch.compile`` to fuse the dequantize into the product."""
    return F.linear(x, q.to(x.dtype)) * scales.to(x.dtype)


def pack_int4(weight: torch.Tensor, group: int = INT4_GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int4 per group of ``group`` inputs: (two nibbles per byte [out, in/2] uint8, scales
    [out, in/group] float32)."""
    out_dim, in_dim = weight.shape
    w = weight.detach().float().view(out_dim, in_dim // group, group)
    scales = w.abs().amax(dim=2).clamp(min=1e-12) / 7.0
    q = (torch.round(w / scales[..., None]).clamp(-8, 7) + 8).to(torch.uint8).view(out_dim, in_dim)
    return q[:, 0::2] | (q[:, 1::2] << 4), scales


def dequant_int4_gemv(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """x @ dequant(packed)^T, for ``torch.compile``."""
    low = (packed & 15).to(x.dtype) - 8
    high = (packed >> 4).to(x.dtype) - 8
    w = torch.stack((low, high), dim=-1).view(packed.shape[0], scales.shape[1], -1)
    w = (w * scales[..., None].to(x.dtype)).view(packed.shape[0], -1)
    return F.linear(x, w)


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.float() - ref).norm() / ref.norm())


def candidates(weights: list[torch.Tensor], x: torch.Tensor) -> dict:
    """name -> (prepared state list, call(state, x))."""
    out: dict = {"fp32 F.linear": (weights, lambda w, x: F.linear(x, w))}
    scales = [w.abs().amax(dim=1).clamp(min=1e-8) / 127 for w in weights]
    q8 = [torch.round(w / s[:, None]).to(torch.int8) for w, s in zip(weights, scales, strict=True)]

    torch.backends.quantized.engine = "fbgemm"
    fb = []
    for w in weights:
        scale, zero = w.abs().amax(1) / 127, torch.zeros(w.shape[0], dtype=torch.long)
        qw = torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)
        fb.append(torch.ops.quantized.linear_prepack(qw, None))
    out["fbgemm dynamic int8 (7-bit act.)"] = (
        fb,
        lambda p, x: torch.ops.quantized.linear_dynamic(x, p, True),
    )
    out["fbgemm dynamic int8 (8-bit act.)"] = (
        fb,
        lambda p, x: torch.ops.quantized.linear_dynamic(x, p, False),
    )

    from qwen_tts.quant.kernels import OneDNNInt8

    dn = [OneDNNInt8.prepare(w) for w in weights]
    out["oneDNN qlinear dyn int8"] = (dn, lambda p, x: p(x))

    def int_mm(state, x):
        wt, s = state
        xs = x.abs().amax().clamp(min=1e-8) / 127
        xq = torch.round(x / xs).to(torch.int8)
        xq = F.pad(xq, (0, 0, 0, 17 - xq.shape[0])) if xq.shape[0] <= 16 else xq
        return torch._int_mm(xq, wt)[: x.shape[0]].float() * (xs * s)

    out["_int_mm dyn int8"] = ([(q.t().contiguous(), s) for q, s in zip(q8, scales, strict=True)], int_mm)
    out["_weight_int8pack_mm"] = (
        list(zip(q8, scales, strict=True)),
        lambda st, x: torch.ops.aten._weight_int8pack_mm(x, st[0], st[1]),
    )
    c8 = torch.compile(dequant_int8_gemv, dynamic=False)
    out["compiled dequant int8"] = (list(zip(q8, scales, strict=True)), lambda st, x: c8(x, *st))
    p4 = [pack_int4(w) for w in weights]
    c4 = torch.compile(dequant_int4_gemv, dynamic=False)
    out["compiled dequant int4 g128"] = (p4, lambda st, x: c4(x, *st))
    try:
        import copy

        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            Int8WeightOnlyConfig,
            quantize_,
        )

        for name, cfg in (
            ("torchao int8 weight-only", Int8WeightOnlyConfig),
            ("torchao int8 dyn", Int8DynamicActivationInt8WeightConfig),
        ):
            mods = []
            for w in weights:
                lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
                lin.weight.data = w.clone()
                lin = copy.deepcopy(lin)
                quantize_(lin, cfg())
                mods.append(lin)
            out[name] = (mods, lambda m, x: m(x))
    except Exception as e:  # torchao absent or its CPU path missing
        log.info("torchao skipped: %s", e)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=2, default=(1024, 6144), metavar=("IN", "OUT"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d_in, d_out = args.shape
    weights = [torch.randn(d_out, d_in) * 0.02 for _ in range(args.layers)]
    x = torch.randn(1, d_in)
    ref = F.linear(x, weights[0])
    cands = candidates(weights, x)
    best = dict.fromkeys(cands, float("inf"))
    errors = {}
    with torch.inference_mode():
        for name, (states, call) in cands.items():
            for _ in range(3):
                for s in states:
                    call(s, x)
            errors[name] = _rel_err(call(states[0], x), ref)
        for _ in range(args.rounds):
            for name, (states, call) in cands.items():
                start = time.perf_counter()
                for _ in range(4):
                    for s in states:
                        call(s, x)
                best[name] = min(best[name], (time.perf_counter() - start) / 4 * 1e3)
    fp32 = best["fp32 F.linear"]
    log.info(
        "%d x [1, %d] x [%d, %d], %d threads, best of %d",
        args.layers,
        d_in,
        d_in,
        d_out,
        args.threads,
        args.rounds,
    )
    log.info("| kernel | ms | speed vs fp32 | rel. error |")
    log.info("|---|---|---|---|")
    for name, ms in best.items():
        log.info("| %s | %.2f | %.2fx | %.4f |", name, ms, fp32 / ms, errors[name])


if __name__ == "__main__":
    main()
