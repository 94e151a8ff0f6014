"""Decode-step kernels of the shared layers on this machine: the measurements behind ``layers/fusion.py`` and
behind what was not changed (SDPA for single-token attention, RMSNorm and RoPE as they are).

``python -m bench.layers [--threads N]`` (about 30 s; one thread by default, like bench/engine.py). A decode
step reads every weight once per token, so each weight is timed cold: the timed loop runs over enough copies
to overflow the L3 cache, as a frame's 33 layers do. Every figure is the fastest of a few rounds, the variants
interleaved (the machine is shared). Rows:

- projections: one token (batch 1) through a layer's input projections (q/k/v, gate/up) at the released shapes
  as separate ``nn.Linear`` weights, fused [out, in], and fused input-major ([in, out] in memory: what
  ``fuse_projections`` builds for float32 on the CPU; not for bfloat16: one row shows why); the output
  projections (o, down) in both layouts.
- attention: one query (16 heads, 8 kv heads of 128) over L cached positions: SDPA vs the batched-matmul form
  (q grouped per kv head, additive mask, softmax), and SDPA over only the first L/4 keys (a narrow mask).
- small ops against candidates, and the code predictor's 15 steps of a frame, unfused vs ``fuse_projections``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import time
from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from qwen_tts.layers import RMSNorm, Transformer, TransformerSpec, apply_rotary
from qwen_tts.layers.fusion import fuse_projections

COLD_BYTES = 96 * 2**20  # > 16 MiB L3 several times over
# name -> (hidden, [q, k, v] widths, intermediate)
SHAPES = {
    "0.6B talker / predictor": (1024, (2048, 1024, 1024), 3072),
    "1.7B talker": (2048, (2048, 1024, 1024), 6144),
    "codec decoder": (512, (1024, 1024, 1024), 1024),
}
PREDICTOR = TransformerSpec(
    hidden_size=1024, intermediate_size=3072, num_layers=5, num_heads=16, num_kv_heads=8, head_dim=128,
    qk_norm=True, rope_theta=1e6,
)  # fmt: skip
TALKER_0B6 = TransformerSpec(
    hidden_size=1024, intermediate_size=3072, num_layers=28, num_heads=16, num_kv_heads=8, head_dim=128,
    qk_norm=True, rope_theta=1e6, mrope_section=(24, 20, 20), mrope_interleaved=True,
)  # fmt: skip


def best_seconds(variants: dict[str, Callable[[], object]], rounds: int = 5) -> dict[str, float]:
    """Fastest of ``rounds`` timings per variant, the variants interleaved (a shared machine drifts)."""
    best = dict.fromkeys(variants, float("inf"))
    for fn in variants.values():
        fn()  # warm-up: page faults, allocator
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _copies(nbytes: int) -> int:
    return max(2, -(-COLD_BYTES // nbytes))


def projection_rows(
    hidden: int, parts: Sequence[int], rounds: int, dtype: torch.dtype = torch.float32
) -> tuple[float, float, float]:
    """ms per layer: separate, fused [out, in], fused input-major, for one token through ``parts``."""
    copies = _copies(sum(parts) * hidden * dtype.itemsize)
    separate = [[torch.randn(n, hidden, dtype=dtype) for n in parts] for _ in range(copies)]
    fused = [torch.cat(ws) for ws in separate]
    input_major = [w.t().contiguous().t() for w in fused]
    x = torch.randn(1, 1, hidden, dtype=dtype)
    seconds = best_seconds(
        {
            "separate": lambda: [F.linear(x, w) for ws in separate for w in ws],
            "fused": lambda: [F.linear(x, w) for w in fused],
            "input-major": lambda: [F.linear(x, w) for w in input_major],
        },
        rounds,
    )
    return tuple(1e3 * seconds[k] / copies for k in ("separate", "fused", "input-major"))


def output_rows(out_features: int, in_features: int, rounds: int) -> tuple[float, float]:
    """ms per layer of one token through an [out, in] weight stored [out, in] vs input-major."""
    copies = _copies(out_features * in_features * 4)
    weights = [torch.randn(out_features, in_features) for _ in range(copies)]
    input_major = [w.t().contiguous().t() for w in weights]
    x = torch.randn(1, 1, in_features)
    seconds = best_seconds(
        {
            "nn.Linear": lambda: [F.linear(x, w) for w in weights],
            "input-major": lambda: [F.linear(x, w) for w in input_major],
        },
        rounds,
    )
    return 1e3 * seconds["nn.Linear"] / copies, 1e3 * seconds["input-major"] / copies


def batched_matmul_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float
) -> torch.Tensor:
    """GQA as two batched matmuls: q [B, H, T, hd] grouped per kv head, against k, v [B, H_kv, L, hd]."""
    batch, num_heads, length, head_dim = q.shape
    num_kv_heads, kv_len = k.shape[1], k.shape[2]
    group = num_heads // num_kv_heads
    rows = q.reshape(batch * num_kv_heads, group * length, head_dim)
    scores = torch.bmm(rows, k.reshape(-1, kv_len, head_dim).transpose(1, 2))  # [B*H_kv, group*T, L]
    scores = scores.view(batch, num_kv_heads, group, length, kv_len).mul_(scale).add_(mask[:, :, None])
    weights = scores.softmax(-1).view(batch * num_kv_heads, group * length, kv_len)
    return torch.bmm(weights, v.reshape(-1, kv_len, head_dim)).view(batch, num_heads, length, head_dim)


def attention_row(kv_len: int, rounds: int) -> tuple[float, float, float]:
    """us per single-query call over ``kv_len`` cold positions: SDPA, batched matmuls, SDPA over kv_len/4."""
    heads, kv_heads, head_dim = 16, 8, 128
    copies = _copies(2 * kv_heads * kv_len * head_dim * 4)
    shape = (1, kv_heads, kv_len, head_dim)
    caches = [(torch.randn(shape), torch.randn(shape)) for _ in range(copies)]
    q = torch.randn(1, 1, heads, head_dim).transpose(1, 2)  # as Attention makes it
    mask = torch.zeros(1, 1, 1, kv_len)
    quarter = max(kv_len // 4, 1)
    head = mask[..., :quarter]
    scale = head_dim**-0.5

    def sdpa(k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=scale, enable_gqa=True)

    expected = sdpa(*caches[0], mask)
    torch.testing.assert_close(batched_matmul_attention(q, *caches[0], mask, scale), expected)
    seconds = best_seconds(
        {
            "sdpa": lambda: [sdpa(k, v, mask) for k, v in caches],
            "bmm": lambda: [batched_matmul_attention(q, k, v, mask, scale) for k, v in caches],
            "quarter": lambda: [sdpa(k[:, :, :quarter], v[:, :, :quarter], head) for k, v in caches],
        },
        rounds,
    )
    return tuple(1e6 * seconds[k] / copies for k in ("sdpa", "bmm", "quarter"))


def small_op_rows(rounds: int) -> list[tuple[str, float, float]]:
    """us per call, the module vs a candidate: RMSNorm vs F.rms_norm (not kept: under 6 us a call, lost in the
    noise of a frame), apply_rotary vs an addcmul form without rotate_half's cat (not kept: under 5 us)."""
    calls = 300
    rows = []
    for shape in ((1, 1, 1024), (1, 1, 16, 128)):
        norm, x = RMSNorm(shape[-1]), torch.randn(shape)

        def module(norm: RMSNorm = norm, x: torch.Tensor = x) -> list[torch.Tensor]:
            return [norm(x) for _ in range(calls)]

        def fused(norm: RMSNorm = norm, x: torch.Tensor = x) -> list[torch.Tensor]:
            return [F.rms_norm(x, norm.weight.shape, norm.weight, norm.eps) for _ in range(calls)]

        s = best_seconds({"module": module, "fused": fused}, rounds)
        rows.append(
            (f"RMSNorm {list(shape)} | F.rms_norm", 1e6 * s["module"] / calls, 1e6 * s["fused"] / calls)
        )
    q, cos, sin = torch.randn(1, 1, 16, 128).transpose(1, 2), torch.randn(1, 1, 128), torch.randn(1, 1, 128)
    torch.testing.assert_close(_rotary_addcmul(q, cos, sin), apply_rotary(q, cos, sin))
    s = best_seconds(
        {
            "module": lambda: [apply_rotary(q, cos, sin) for _ in range(calls)],
            "addcmul": lambda: [_rotary_addcmul(q, cos, sin) for _ in range(calls)],
        },
        rounds,
    )
    rows.append(
        (
            "apply_rotary [1, 16, 1, 128] | addcmul halves",
            1e6 * s["module"] / calls,
            1e6 * s["addcmul"] / calls,
        )
    )
    return rows


def _rotary_addcmul(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """apply_rotary without rotate_half's negation and cat: x*cos, then each half += the other half * sin."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    out = x * cos
    out[..., :half].addcmul_(x[..., half:], sin[..., :half], value=-1)
    out[..., half:].addcmul_(x[..., :half], sin[..., half:])
    return out


def steps_ms(
    spec: TransformerSpec, cache_len: int, steps: Sequence[slice], rounds: int
) -> tuple[float, float]:
    """ms for ``steps`` (slices of positions) through a static cache of ``cache_len``: unfused, fused."""
    torch.manual_seed(0)
    plain = Transformer(spec).eval()
    models = {"plain": plain, "fused": fuse_projections(copy.deepcopy(plain))}
    caches = {name: model.new_caches(1, cache_len) for name, model in models.items()}
    x = torch.randn(1, cache_len, spec.hidden_size)
    positions = torch.arange(cache_len)[None]

    def run(name: str) -> torch.Tensor:
        for step in steps:
            out = models[name](x[:, step], positions[:, step], caches[name])
        return out

    with torch.inference_mode():
        torch.testing.assert_close(run("fused"), run("plain"), atol=1e-4, rtol=1e-4)
        s = best_seconds({name: functools.partial(run, name) for name in models}, rounds)
    return 1e3 * s["plain"], 1e3 * s["fused"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--talker", action="store_true", help="also time a 0.6B talker step (3.6 GB, ~15 s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = args.rounds
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"# bench.layers: torch {torch.__version__}, {args.threads} thread(s), fp32, batch 1, {when}")
    print("\n| shapes | block | separate ms | fused ms | fused input-major ms | input-major vs separate |")
    print("|---|---|---|---|---|---|")
    for name, (hidden, qkv, intermediate) in SHAPES.items():
        for block, parts in (("q/k/v", qkv), ("gate/up", (intermediate, intermediate))):
            sep, fus, inm = projection_rows(hidden, parts, rounds)
            label = f"{block} {hidden}->{'+'.join(map(str, parts))}"
            print(f"| {name} | {label} | {sep:.3f} | {fus:.3f} | {inm:.3f} | {sep / inm:.2f}x |")
    sep, fus, inm = projection_rows(1024, SHAPES["0.6B talker / predictor"][1], rounds, torch.bfloat16)
    bf16 = "| 0.6B, bfloat16 (fused stays [out, in]) | q/k/v"
    print(f"{bf16} | {sep:.3f} | {fus:.3f} | {inm:.3f} | {sep / inm:.2f}x |")
    print("\n| shapes | output projection | nn.Linear ms | input-major ms |")
    print("|---|---|---|---|")
    for name, (hidden, qkv, intermediate) in SHAPES.items():
        for block, (out_f, in_f) in (("o", (hidden, qkv[0])), ("down", (hidden, intermediate))):
            plain, inm = output_rows(out_f, in_f, rounds)
            print(f"| {name} | {block} {in_f}->{out_f} | {plain:.3f} | {inm:.3f} |")
    print("\n| attention, 1 query, L keys | SDPA us | batched matmuls us | SDPA, first L/4 keys us |")
    print("|---|---|---|---|")
    for kv_len in (16, 128, 512, 2048):
        sdpa, bmm, quarter = attention_row(kv_len, rounds)
        print(f"| L={kv_len} | {sdpa:.1f} | {bmm:.1f} | {quarter:.1f} |")
    print("\n| small op | candidate | module us | candidate us |")
    print("|---|---|---|---|")
    for name, module, candidate in small_op_rows(rounds):
        print(f"| {name} | {module:.1f} | {candidate:.1f} |")
    predictor_frame = [slice(0, 2)] + [slice(j, j + 1) for j in range(2, 16)]
    frames = [("code predictor, one frame (5 layers, 2 + 14 x 1 tokens)", PREDICTOR, 16, predictor_frame)]
    if args.talker:  # 2 x 1.8 GB of weights
        frames.append(
            ("0.6B talker, one token (28 layers, 512-slot cache)", TALKER_0B6, 512, [slice(100, 101)])
        )
    print("\n| steps | unfused ms | fused ms | speed-up |")
    print("|---|---|---|---|")
    for label, spec, cache_len, steps in frames:
        plain, fused = steps_ms(spec, cache_len, steps, max(3, rounds - 2))
        print(f"| {label} | {plain:.1f} | {fused:.1f} | {plain / fused:.2f}x |")


if __name__ == "__main__":
    main()
