"""Fused input projections for decoding: q/k/v as one matrix, gate/up as one matrix.

Why: a decode step multiplies one token by every weight, so it costs the time to read the weights. On this
project's CPU (MKL, AVX2; ``python -m bench.layers``) one product over the concatenated q/k/v (gate/up) rows,
laid out input-major in memory ([in, out], the transpose of ``nn.Linear``'s [out, in]), runs 1.2-2.2x faster
than the separate products (a code-predictor frame 1.2x, a 0.6B talker step 1.24x, one thread). Fusing alone,
in the usual layout, gains little; the output projections (o, down) gain nothing from either layout.

Fusing is done after loading, so checkpoint names never change: each part's ``weight`` becomes a view into
the fused matrix (same name, shape and values, no second copy), ``state_dict`` and ``load_state_dict`` keep
working (loading writes through to the fused matrix), and the layers' forwards use the fused matrix.
The fused matrix is a new copy: parts that were views of a mapped checkpoint file stop being so.

Fuse after loading and after ``.to(device, dtype)``: moving the module afterwards copies the parts and the
fused matrix separately (still correct, twice the memory), and ``load_state_dict(assign=True)`` replaces the
parts; fusing again rebuilds the fused matrix from the parts.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention
from .mlp import GatedMLP


def fuse_projections(module: nn.Module, *, input_major: bool | None = None) -> nn.Module:
    """Fuses the q/k/v projections of every ``Attention`` and the gate/up projections of every ``GatedMLP``
    in ``module``, in place (returned for chaining). ``input_major``: lay the fused weights out [in, out];
    None: for float32 on the CPU, where that is faster (elsewhere the usual layout is kept)."""
    for sub in module.modules():
        if getattr(sub, "qkv_proj", None) is not None or getattr(sub, "gate_up_proj", None) is not None:
            continue  # quantized (qwen_tts.quant): its product is already one matrix
        if isinstance(sub, Attention):
            sub.qkv_weight, sub.qkv_bias = _fuse((sub.q_proj, sub.k_proj, sub.v_proj), input_major)
        elif isinstance(sub, GatedMLP):
            sub.gate_up_weight, _ = _fuse((sub.gate_proj, sub.up_proj), input_major)
    return module


def _fuse(
    linears: tuple[nn.Linear, ...], input_major: bool | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One [sum(out), in] weight (and bias) made of ``linears``; each part's parameters become views of it."""
    weights = [linear.weight.detach() for linear in linears]
    if input_major is None:  # bf16 input-major on this CPU: 0.3 GB/s vs 6 GB/s [out, in] (bench/layers.py)
        input_major = weights[0].device.type == "cpu" and weights[0].dtype == torch.float32
    # [sum(out), in] as F.linear takes it; input-major: [in, sum(out)] in memory, seen transposed.
    weight = torch.cat([w.t() for w in weights], dim=1).t() if input_major else torch.cat(weights, dim=0)
    has_bias = linears[0].bias is not None
    bias = torch.cat([linear.bias.detach() for linear in linears]) if has_bias else None
    start = 0
    for linear in linears:
        stop = start + linear.out_features
        linear.weight = nn.Parameter(weight[start:stop], requires_grad=linear.weight.requires_grad)
        if bias is not None:
            linear.bias = nn.Parameter(bias[start:stop], requires_grad=linear.bias.requires_grad)
        start = stop
    return weight, bias
