"""Matrix products with int8 weights on the CPU (and the GPU, weight-only).

Why these: a decode step multiplies one token (or a few) by every weight, so its time is the time to read the
weights, and fewer bytes per weight is the lever. Which op reads int8 fastest was measured, not assumed
(``python -m bench.quant_kernels``, BENCHMARKS.md "Quantization"), activation quantized per call (dynamic,
per tensor, uint8) in the first two:
- ``fbgemm``: ``quantized.linear_dynamic`` (the op behind the deprecated ``quantize_dynamic``), the fastest
  (6-15x fp32 at one token here); x86-64 only, AVX2 and up (7-bit activations without VNNI);
- ``onednn``: ``onednn.qlinear_pointwise``, the op PyTorch's supported PT2E / Inductor x86 quantization lowers
  to (2.4-5.8x fp32), kept as the supported path should the fbgemm ops be removed;
- ``weight_only``: ``aten._weight_int8pack_mm`` (CPU, CUDA), activations in the compute dtype: the most
  exact but slower than fp32 on the CPU; the choice off x86 and on GPUs.
``default_kernel`` takes the first available.
"""

from __future__ import annotations

import warnings

import torch

KERNELS = ("fbgemm", "onednn", "weight_only")


def has_fbgemm() -> bool:
    """Whether fbgemm's dynamic int8 linear is usable here (x86-64 CPU builds)."""
    return "fbgemm" in torch.backends.quantized.supported_engines and hasattr(
        torch.ops.quantized, "linear_dynamic"
    )


def has_vnni() -> bool:
    """Whether the CPU has VNNI (u8 x s8 dot products accumulate in int32 without saturation)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def default_kernel(device: torch.device) -> str:
    """fbgemm where it exists (fastest measured), else oneDNN, else weight-only (CUDA, ARM)."""
    if device.type != "cpu":
        return "weight_only"
    if has_fbgemm():
        return "fbgemm"
    return "onednn" if has_onednn_int8() else "weight_only"


def has_onednn_int8() -> bool:
    """Whether oneDNN's int8 linear is usable here (x86-64 CPU builds of PyTorch)."""
    return (
        hasattr(torch.ops, "onednn")
        and hasattr(torch.ops.onednn, "qlinear_pointwise")
        and (torch.backends.mkldnn.is_available())
    )


def _own(bias: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A copy of ``bias`` in ``dtype``: never a view of the layer's (possibly memory-mapped) checkpoint
    tensor, which would keep the file's mapping, and every page of it the load touched, resident."""
    return bias.detach().to(dtype, copy=True)


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: (q [out, in] int8, scales [out] float32)."""
    w = weight.detach().float()
    scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
    return q, scales


class OneDNNInt8:
    """A prepacked oneDNN int8 weight; ``__call__`` quantizes the activation (per tensor, asymmetric uint8)
    and returns x @ W^T (+ bias) in x's dtype."""

    __slots__ = ("bias", "packed", "scales", "zeros")

    def __init__(self, packed: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.packed, self.scales, self.bias = packed, scales, bias
        self.zeros = torch.zeros(scales.shape, dtype=torch.int64)

    @classmethod
    def prepare(cls, weight: torch.Tensor, bias: torch.Tensor | None = None) -> OneDNNInt8:
        q, scales = quantize_int8(weight)
        packed = torch.ops.onednn.qlinear_prepack(q, None)
        return cls(packed, scales, None if bias is None else _own(bias))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).float()
        lo, hi = torch.aminmax(flat)
        lo, hi = float(lo.clamp(max=0)), float(hi.clamp(min=0))
        scale = max(hi - lo, 1e-8) / 255.0
        zero = min(max(round(-lo / scale), 0), 255)
        qx = torch.clamp(torch.round(flat / scale) + zero, 0, 255).to(torch.uint8)
        out = torch.ops.onednn.qlinear_pointwise(
            qx, scale, zero, self.packed, self.scales, self.zeros, self.bias,
            1.0, 0, torch.float32, "none", [], "",
        )  # fmt: skip
        return out.to(x.dtype).view(*x.shape[:-1], out.shape[-1])

    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + self.scales.numel() * 4


class FbgemmInt8:
    """fbgemm's dynamic int8 linear (``quantized.linear_dynamic``: the activation quantized per call, per
    tensor, uint8; weights int8 per output channel), prepacked. Without VNNI the u8 x s8 pair sums of AVX2's
    ``vpmaddubsw`` saturate int16 for full-range activations, so they are quantized to 7 bits there
    (``reduce_range``, fbgemm's own remedy; 1.6 % vs 1.1 % relative error per layer)."""

    __slots__ = ("packed", "reduce_range")

    def __init__(self, packed, reduce_range: bool) -> None:
        self.packed, self.reduce_range = packed, reduce_range

    @classmethod
    def prepare(cls, weight: torch.Tensor, bias: torch.Tensor | None = None) -> FbgemmInt8:
        q, scales = quantize_int8(weight)
        zeros = torch.zeros(q.shape[0], dtype=torch.int64)
        with warnings.catch_warnings():  # the quantized tensor type is deprecated; fbgemm's packing needs it
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch._make_per_channel_quantized_tensor(q, scales.double(), zeros, 0)
        torch.backends.quantized.engine = "fbgemm"
        float_bias = None if bias is None else _own(bias)
        packed = torch.ops.quantized.linear_prepack(qweight, float_bias)
        return cls(packed, not has_vnni())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.ops.quantized.linear_dynamic(x.float(), self.packed, self.reduce_range)
        return out.to(x.dtype)

    def nbytes(self) -> int:
        weight, bias = torch.ops.quantized.linear_unpack(self.packed)
        return weight.numel() + weight.shape[0] * 8 + (0 if bias is None else bias.numel() * 4)


class WeightOnlyInt8:
    """The fallback: int8 weights, activations in the compute dtype (``aten._weight_int8pack_mm``)."""

    __slots__ = ("bias", "q", "scales")

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        self.q, scales = quantize_int8(weight)
        self.q = self.q.to(weight.device).contiguous()
        self.scales = scales.to(weight.device, weight.dtype)
        self.bias = None if bias is None else _own(bias, weight.dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out = torch.ops.aten._weight_int8pack_mm(flat, self.q, self.scales.to(x.dtype))
        if self.bias is not None:
            out = out + self.bias
        return out.view(*x.shape[:-1], out.shape[-1])

    def nbytes(self) -> int:
        return self.q.numel() + self.scales.numel() * self.scales.element_size()
