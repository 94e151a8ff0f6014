"""The one implementation of the transformer pieces shared by the talker, the code predictor and the codec."""

from .attention import Attention, KVCache, KVStore, additive_mask, attention_mask
from .block import LayerScale, TransformerBlock
from .mlp import GatedMLP, GeluMLP
from .rms_norm import RMSNorm
from .rotary import RotaryEmbedding, apply_rotary, rotate_half
from .spec import TransformerSpec
from .transformer import Transformer

__all__ = [
    "Attention",
    "GatedMLP",
    "GeluMLP",
    "KVCache",
    "KVStore",
    "LayerScale",
    "RMSNorm",
    "RotaryEmbedding",
    "Transformer",
    "TransformerBlock",
    "TransformerSpec",
    "additive_mask",
    "apply_rotary",
    "attention_mask",
    "rotate_half",
]
