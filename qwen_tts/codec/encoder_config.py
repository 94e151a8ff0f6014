"""The Mimi encoder's configuration: ``encoder_config`` of ``speech_tokenizer/config.json``.

The section holds transformers' ``MimiConfig`` keys (the official package builds its Mimi from it); a key it
leaves out takes ``MimiConfig``'s default, as there. Every problem is a ``CheckpointError`` naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import CheckpointError
from ..layers import TransformerSpec
from .convs import PAD_MODES

# transformers' MimiConfig defaults for the keys our encoder reads (a released encoder_config lists them all).
MIMI_DEFAULTS: dict[str, Any] = {
    "sampling_rate": 24000, "frame_rate": None, "audio_channels": 1, "hidden_size": 512, "num_filters": 64,
    "num_residual_layers": 1, "upsampling_ratios": [8, 6, 5, 4], "kernel_size": 7, "last_kernel_size": 3,
    "residual_kernel_size": 3, "dilation_growth_rate": 2, "use_causal_conv": True, "pad_mode": "constant",
    "compress": 2, "codebook_size": 2048, "codebook_dim": 256, "num_quantizers": 32,
    "use_conv_shortcut": False, "vector_quantization_hidden_dimension": 256, "num_semantic_quantizers": 1,
    "num_hidden_layers": 8, "intermediate_size": 2048, "num_attention_heads": 8, "num_key_value_heads": 8,
    "head_dim": None, "hidden_act": "gelu", "norm_eps": 1e-5, "use_streaming": False, "rope_theta": 10000.0,
    "sliding_window": 250, "layer_scale_initial_scale": 0.01, "attention_bias": False,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """Mimi's encoder half: SEANet convs -> causal transformer (25 Hz) -> stride-2 conv (12.5 Hz) -> RVQ."""

    hidden_size: int
    num_filters: int  # channels after the first conv, doubled by each downsampling conv
    num_residual_layers: int  # SEANet residual blocks before each downsampling conv
    downsampling_ratios: tuple[int, ...]  # SEANet strides in order (MimiConfig's upsampling_ratios reversed)
    kernel_size: int
    last_kernel_size: int
    residual_kernel_size: int
    dilation_growth_rate: int
    compress: int  # residual blocks narrow to dim // compress
    use_conv_shortcut: bool
    causal: bool  # use_causal_conv
    pad_mode: str
    downsample_kernel: int  # the 25 -> 12.5 Hz conv (stride 2, replicate padding, no bias)
    transformer: TransformerSpec  # LayerNorm, GELU MLP, layer scale, RoPE; causal over the whole input
    codebook_size: int
    codebook_dim: int
    num_quantizers: int
    num_semantic_quantizers: int
    project_to_codebooks: bool  # vector_quantization_hidden_dimension != hidden_size: 1x1 input projections
    sliding_window: int  # the checkpoint's value; not applied (see encoder.py)
    sampling_rate: int

    def __post_init__(self) -> None:
        if self.num_semantic_quantizers != 1:
            raise CheckpointError("encoder_config.num_semantic_quantizers: only 1 is supported")
        if self.num_quantizers <= self.num_semantic_quantizers:
            raise CheckpointError(f"encoder_config.num_quantizers must exceed 1, got {self.num_quantizers}")
        if self.pad_mode not in PAD_MODES:
            raise CheckpointError(
                f"encoder_config.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}"
            )

    @property
    def samples_per_frame(self) -> int:
        return math.prod(self.downsampling_ratios) * 2

    @classmethod
    def from_dict(cls, given: dict[str, Any]) -> EncoderConfig:
        where = "speech_tokenizer encoder_config"
        raw = {**MIMI_DEFAULTS, **given}
        unsupported = {
            "model_type": (raw.get("model_type", "mimi"), "mimi"),
            "audio_channels": (raw["audio_channels"], 1),
            "hidden_act": (raw["hidden_act"], "gelu"),
            "use_streaming": (raw["use_streaming"], False),  # streaming Mimi pads differently
        }
        for key, (value, supported) in unsupported.items():
            if value != supported:
                raise CheckpointError(f"{where}.{key}: only {supported!r} is supported, got {value!r}")
        rope_scaling = raw.get("rope_scaling") or {}
        if rope_scaling.get("rope_type", rope_scaling.get("type", "default")) != "default":
            raise CheckpointError(f"{where}.rope_scaling: only the default RoPE is supported")
        try:
            hidden, num_heads = int(raw["hidden_size"]), int(raw["num_attention_heads"])
            ratios = tuple(int(r) for r in reversed(raw["upsampling_ratios"]))
            frame_rate = raw["frame_rate"] or raw["sampling_rate"] / (math.prod(ratios) * 2)
            encodec_frame_rate = math.ceil(raw["sampling_rate"] / math.prod(ratios))
            if encodec_frame_rate != 2 * frame_rate:
                raise CheckpointError(
                    f"{where}: frame_rate {frame_rate} must halve the SEANet rate {encodec_frame_rate}"
                )
            vq_dim = int(raw["vector_quantization_hidden_dimension"])
            codebook_dim = int(raw["codebook_dim"] or hidden)
            if codebook_dim != vq_dim:
                raise CheckpointError(f"{where}: codebook_dim {codebook_dim} != its quantizer width {vq_dim}")
            transformer = TransformerSpec(
                hidden_size=hidden,
                intermediate_size=int(raw["intermediate_size"]),
                num_layers=int(raw["num_hidden_layers"]),
                num_heads=num_heads,
                num_kv_heads=int(raw["num_key_value_heads"] or num_heads),
                head_dim=int(raw["head_dim"] or hidden // num_heads),
                rms_norm_eps=float(raw["norm_eps"]),
                rope_theta=float(raw["rope_theta"]),
                attention_bias=bool(raw["attention_bias"]),
                causal=True,
                layer_scale=float(raw["layer_scale_initial_scale"]),
                norm="layer",
                mlp="gelu",
            )
            return cls(
                hidden_size=hidden,
                num_filters=int(raw["num_filters"]),
                num_residual_layers=int(raw["num_residual_layers"]),
                downsampling_ratios=ratios,
                kernel_size=int(raw["kernel_size"]),
                last_kernel_size=int(raw["last_kernel_size"]),
                residual_kernel_size=int(raw["residual_kernel_size"]),
                dilation_growth_rate=int(raw["dilation_growth_rate"]),
                compress=int(raw["compress"]),
                use_conv_shortcut=bool(raw["use_conv_shortcut"]),
                causal=bool(raw["use_causal_conv"]),
                pad_mode=str(raw["pad_mode"]),
                downsample_kernel=2 * int(encodec_frame_rate / frame_rate),
                transformer=transformer,
                codebook_size=int(raw["codebook_size"]),
                codebook_dim=codebook_dim,
                num_quantizers=int(raw["num_quantizers"]),
                num_semantic_quantizers=int(raw["num_semantic_quantizers"]),
                project_to_codebooks=vq_dim != hidden,
                sliding_window=int(raw["sliding_window"]),
                sampling_rate=int(raw["sampling_rate"]),
            )
        except CheckpointError:
            raise
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{where}: {e}") from e
