"""Weight-initialisation rules for tiny random-weight checkpoints, shared by our checkpoint writer
(``qwen_tts.tiny_checkpoint``) and the parity goldens builder (which loads this file by path in the
reference venv, so it imports only torch — never our package).

The rules go by module type and parameter name, so they hold for the official modules and ours alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

RESIDUAL_UNIT_GAIN = 0.3  # keeps each SnakeBeta residual stack of the codec near unit variance
TARGET_WAVE_STD = 0.3


def init_weights(model: nn.Module, seed: int) -> None:
    """Deterministic, numerically sane random weights for every parameter and float buffer of ``model``.

    Rules by module type and parameter name, so they hold for the official modules and ours alike:
    fan-in-scaled normals for convs and linears; small embeddings (std 0.1, so that context rather than the
    current token drives the codes); norm weights near 1; SnakeBeta, layer scale, ConvNeXt gamma and codebook
    usage off their degenerate defaults; random codebooks; the codec's residual units damped.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * std + mean)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                normal(module.weight, 1.0 / math.sqrt(module.weight[0].numel()))
                if module.bias is not None:
                    normal(module.bias, 0.02)
            elif isinstance(module, nn.ConvTranspose1d):
                in_channels, _, kernel = module.weight.shape
                normal(module.weight, 1.0 / math.sqrt(in_channels * kernel / module.stride[0]))
                if module.bias is not None:
                    normal(module.bias, 0.02)
            elif isinstance(module, nn.Embedding):
                normal(module.weight, 0.1)
            elif isinstance(module, nn.LayerNorm):
                normal(module.weight, 0.1, mean=1.0)
                normal(module.bias, 0.02)
        tensors = dict(model.named_parameters()) | dict(model.named_buffers())
        for name, tensor in tensors.items():
            leaf = name.rsplit(".", 1)[-1]
            if not tensor.is_floating_point():
                continue
            if leaf == "weight" and tensor.ndim == 1:  # RMSNorm weights (q/k norms included)
                normal(tensor, 0.1, mean=1.0)
            elif leaf in ("alpha", "beta"):  # SnakeBeta, log scale
                normal(tensor, 0.2)
            elif leaf == "scale":  # layer scale
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.1 + 0.05)
            elif leaf == "gamma":  # ConvNeXt residual scale
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.2 + 0.1)
            elif leaf == "cluster_usage":
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif leaf in ("embedding_sum", "embed_sum"):  # codebook entries = sum / usage ~ N(0, 1)
                usage = tensors.get(name.rsplit(".", 1)[0] + ".cluster_usage")
                normal(tensor, 1.0)
                if usage is not None:
                    tensor.mul_(usage[:, None])
            elif leaf == "initialized":
                tensor.fill_(1.0)
        for module in model.modules():
            if type(module).__name__.endswith("ResidualUnit"):
                for conv in module.conv2.modules():
                    if isinstance(conv, nn.Conv1d):
                        conv.weight.mul_(RESIDUAL_UNIT_GAIN)


def calibrate_output_gain(
    final_conv: nn.Conv1d, run: Callable[[], object], target_std: float = TARGET_WAVE_STD
):
    """Rescales the codec's output conv so that ``run()`` (a decode) gives a waveform of ``target_std``
    before the clamp to [-1, 1] — one linear rescale, exact."""
    captured = []
    hook = final_conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.no_grad():
            run()
    finally:
        hook.remove()
    std = float(captured[0].std())
    if not math.isfinite(std) or std == 0.0:
        raise RuntimeError(f"tiny codec output is degenerate (std={std})")
    with torch.no_grad():
        final_conv.weight.mul_(target_std / std)
        if final_conv.bias is not None:
            final_conv.bias.mul_(target_std / std)
