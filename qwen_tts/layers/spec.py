"""The shape of a pre-norm transformer stack, shared by the talker, the code predictor and the codec."""

from __future__ import annotations

from dataclasses import dataclass

NORMS = ("rms", "layer")  # RMSNorm (Llama / Qwen) or LayerNorm with bias (Mimi)
MLPS = ("gated_silu", "gelu")  # down(silu(gate(x)) * up(x)) (Llama / Qwen) or fc2(gelu(fc1(x))) (Mimi)


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6  # the norms' epsilon (LayerNorm's too, with norm="layer")
    rope_theta: float = 10000.0
    mrope_section: tuple[int, ...] | None = None  # None: plain 1-D RoPE
    mrope_interleaved: bool = False
    qk_norm: bool = False  # per-head RMSNorm on q and k (Qwen3)
    attention_bias: bool = False
    mlp_bias: bool = False  # biases on the GELU MLP's fc1 and fc2 (Whisper-style audio encoders)
    sliding_window: int | None = None  # attend to at most this many most recent positions (self included)
    causal: bool = True
    layer_scale: float | None = None  # initial value of a per-channel residual scale; None: no layer scale
    norm: str = "rms"  # one of NORMS
    mlp: str = "gated_silu"  # one of MLPS

    def __post_init__(self) -> None:
        for name in (
            "hidden_size",
            "intermediate_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "head_dim",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"TransformerSpec.{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}"
            )
        if self.norm not in NORMS:
            raise ValueError(f"TransformerSpec.norm must be one of {NORMS}, got {self.norm!r}")
        if self.mlp not in MLPS:
            raise ValueError(f"TransformerSpec.mlp must be one of {MLPS}, got {self.mlp!r}")
        if self.sliding_window is not None and self.sliding_window <= 0:
            raise ValueError(f"sliding_window must be positive, got {self.sliding_window}")
        if self.mrope_section is not None and sum(self.mrope_section) != self.head_dim // 2:
            raise ValueError(
                f"mrope_section {self.mrope_section} must sum to head_dim/2 = {self.head_dim // 2}"
            )
