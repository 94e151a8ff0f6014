"""Load-time int8 quantization of the talker's and the code predictor's linear layers.

``quantize_model(model, "int8")`` replaces every linear layer of the two transformers (fused q/k/v and
gate/up included) and the codebook heads (``codec_head``, the predictor's ``lm_head`` s, its input
projection) by ``QuantizedLinear``: int8 weights per output channel, the product by a kernel of
``kernels.py``; the text projection's two layers the same way (prefill only: for memory, 18 MiB at 0.6B,
and a faster prefill); and the code predictor's 15 codec embedding tables by ``QuantizedEmbedding`` (int8
rows, dequantized on lookup: for resident memory, 90 MiB at 0.6B, not speed). Kept in full precision, by
measurement (BENCHMARKS.md "Quantization"): the talker's embeddings, the norms, the KV caches (the compute
dtype) and the codec decoder (its transformer in int8 saves 87 MiB but its audio is then only 25 dB from
fp32's; the rest is convolution compute, not weight reads).
int4 is not offered: no int4 kernel measured here beats the int8 one (``bench/quant_kernels.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

import torch
from torch import nn

from ..layers import Attention, GatedMLP
from .embedding import QuantizedEmbedding
from .kernels import KERNELS, FbgemmInt8, OneDNNInt8, WeightOnlyInt8, default_kernel

logger = logging.getLogger(__name__)

MODES = ("int8",)


class QuantizedLinear(nn.Module):
    """A linear layer whose weight is int8 (``kernel``: see ``kernels.py``); bias kept in float32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, kernel: str) -> None:
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.kernel = kernel
        if kernel == "fbgemm":
            self.impl = FbgemmInt8.prepare(weight, bias)
        elif kernel == "onednn":
            self.impl = OneDNNInt8.prepare(weight, bias)
        elif kernel == "weight_only":
            self.impl = WeightOnlyInt8(weight, bias)
        else:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.impl(x)

    def nbytes(self) -> int:
        """Bytes the weight (and bias) take."""
        return self.impl.nbytes()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel={self.kernel}"


def validate_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in MODES:
        raise ValueError(f"quantize must be one of {', '.join(MODES)} or None, got {mode!r}")
    return mode


def quantize_model(model: nn.Module, mode: str = "int8", kernel: str | None = None) -> nn.Module:
    """Quantizes ``model``'s talker and code predictor in place (returned). Call after loading, before or
    after fusing (``TTSEngine.from_pretrained``: before, so no fused float copy is made): q/k/v and gate/up
    become one quantized product each, and the float weights they replace are released (so are the code
    predictor's float embedding tables)."""
    validate_mode(mode)
    talker = model.talker
    device = talker.codec_embedding.weight.device
    kernel = kernel or default_kernel(device)
    predictor = talker.code_predictor
    for transformer in (talker.transformer, predictor.transformer):
        quantize_transformer(transformer, kernel)
    talker.codec_head = quantized_linear(talker.codec_head, kernel)
    predictor.lm_head = nn.ModuleList(quantized_linear(head, kernel) for head in predictor.lm_head)
    if isinstance(predictor.small_to_mtp_projection, nn.Linear):
        predictor.small_to_mtp_projection = quantized_linear(predictor.small_to_mtp_projection, kernel)
    projection = talker.text_projection
    projection.linear_fc1 = quantized_linear(projection.linear_fc1, kernel)
    projection.linear_fc2 = quantized_linear(projection.linear_fc2, kernel)
    predictor.codec_embedding = nn.ModuleList(
        QuantizedEmbedding.from_embedding(table) for table in predictor.codec_embedding
    )
    logger.info("quantized the talker and code predictor to %s (kernel %s)", mode, kernel)
    if device.type == "cpu":
        release_freed_memory()
    return model


def release_freed_memory() -> None:
    """Hands the heap's free pages back to the OS (glibc ``malloc_trim``): the float weights quantization
    freed (~4 bytes a parameter) otherwise stay resident in the allocator's arenas (120 MiB at 0.6B)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:  # not glibc: nothing to trim this way
        pass


def quantize_transformer(transformer: nn.Module, kernel: str | None = None) -> nn.Module:
    """Every attention and gated-MLP product of ``transformer`` in int8, in place (returned)."""
    kernel = kernel or default_kernel(next(transformer.parameters()).device)
    for sub in transformer.modules():
        if isinstance(sub, Attention):
            _quantize_attention(sub, kernel)
        elif isinstance(sub, GatedMLP):
            _quantize_mlp(sub, kernel)
    return transformer


def quantized_linear(linear: nn.Linear, kernel: str | None = None) -> QuantizedLinear:
    """``linear`` in int8 (a new module; ``linear`` is left as it was)."""
    return QuantizedLinear(linear.weight, linear.bias, kernel or default_kernel(linear.weight.device))


def quantizes_activations(module: nn.Module) -> bool:
    """Whether some layer quantizes its input per call (fbgemm, oneDNN): its scale comes from the whole input,
    so a row's numbers depend on what it is computed with (the batch's other rows, a prompt split in two)."""
    return any(isinstance(sub, QuantizedLinear) and sub.kernel != "weight_only" for sub in module.modules())


def quantized_bytes(module: nn.Module) -> int:
    """Bytes of the quantized weights in ``module`` (not counted by ``parameters()``)."""
    return sum(sub.nbytes() for sub in module.modules() if isinstance(sub, QuantizedLinear))


def _fused(parts: tuple[nn.Linear, ...], fused_weight: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    weight = fused_weight if fused_weight is not None else torch.cat([p.weight for p in parts])
    biases = [p.bias for p in parts]
    bias = torch.cat(biases) if biases[0] is not None else None
    return weight, bias


def _quantize_attention(attention: Attention, kernel: str) -> None:
    parts = (attention.q_proj, attention.k_proj, attention.v_proj)
    weight, bias = _fused(parts, attention.qkv_weight)
    attention.qkv_proj = QuantizedLinear(weight, bias, kernel)
    attention.qkv_weight = attention.qkv_bias = None
    del attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight
    attention.o_proj = quantized_linear(attention.o_proj, kernel)


def _quantize_mlp(mlp: GatedMLP, kernel: str) -> None:
    weight, _ = _fused((mlp.gate_proj, mlp.up_proj), mlp.gate_up_weight)
    mlp.gate_up_proj = QuantizedLinear(weight, None, kernel)
    mlp.gate_up_weight = None
    del mlp.gate_proj.weight, mlp.up_proj.weight
    mlp.down_proj = quantized_linear(mlp.down_proj, kernel)
