"""Configuration of the 12 Hz speech tokenizer, parsed from ``speech_tokenizer/config.json``.

Frozen slotted dataclasses validated on construction; every problem is a ``CheckpointError`` naming the key.
The encoder section (Mimi's keys) is parsed in ``encoder_config.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..layers import TransformerSpec
from .encoder_config import EncoderConfig

MODEL_TYPE = "qwen3_tts_tokenizer_12hz"


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """The causal decoder: split RVQ -> pre-conv -> sliding-window transformer -> upsampling -> waveform."""

    codebook_size: int
    codebook_dim: int  # width of the summed code embeddings after the RVQ output projections
    num_quantizers: int
    latent_dim: int
    decoder_dim: int
    upsampling_ratios: tuple[int, ...]  # transposed convs + ConvNeXt after the transformer
    upsample_rates: tuple[int, ...]  # the SnakeBeta decoder blocks
    transformer: TransformerSpec
    num_semantic_quantizers: int = 1

    def __post_init__(self) -> None:
        if self.num_semantic_quantizers != 1:
            raise CheckpointError("decoder_config.num_semantic_quantizers: only 1 is supported")
        if self.num_quantizers <= self.num_semantic_quantizers:
            raise CheckpointError(f"decoder_config.num_quantizers must exceed 1, got {self.num_quantizers}")
        if self.codebook_dim % 2:
            raise CheckpointError(f"decoder_config.codebook_dim must be even, got {self.codebook_dim}")
        if self.decoder_dim % 2 ** len(self.upsample_rates):
            raise CheckpointError(
                f"decoder_config.decoder_dim {self.decoder_dim} must halve {len(self.upsample_rates)} times"
            )

    @property
    def samples_per_frame(self) -> int:
        return math.prod(self.upsampling_ratios) * math.prod(self.upsample_rates)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DecoderConfig:
        where = "speech_tokenizer decoder_config"

        def need(key: str) -> Any:
            if key not in raw:
                raise CheckpointError(f"{where}: missing key {key!r}")
            return raw[key]

        if raw.get("hidden_act", "silu") != "silu":
            raise CheckpointError(f"{where}.hidden_act: only 'silu' is supported, got {raw['hidden_act']!r}")
        rope_scaling = raw.get("rope_scaling") or {}
        if rope_scaling.get("rope_type", rope_scaling.get("type", "default")) != "default":
            raise CheckpointError(f"{where}.rope_scaling: only the default RoPE is supported")
        num_heads = int(need("num_attention_heads"))
        hidden = int(need("hidden_size"))
        try:
            transformer = TransformerSpec(
                hidden_size=hidden,
                intermediate_size=int(need("intermediate_size")),
                num_layers=int(need("num_hidden_layers")),
                num_heads=num_heads,
                num_kv_heads=int(raw.get("num_key_value_heads") or num_heads),
                head_dim=int(raw.get("head_dim") or hidden // num_heads),
                rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
                rope_theta=float(raw.get("rope_theta", 10000.0)),
                attention_bias=bool(raw.get("attention_bias", False)),
                sliding_window=int(raw.get("sliding_window", 72)),
                causal=True,
                layer_scale=float(raw.get("layer_scale_initial_scale", 0.01)),
            )
            return cls(
                codebook_size=int(need("codebook_size")),
                codebook_dim=int(need("codebook_dim")),
                num_quantizers=int(need("num_quantizers")),
                latent_dim=int(need("latent_dim")),
                decoder_dim=int(need("decoder_dim")),
                upsampling_ratios=tuple(int(r) for r in need("upsampling_ratios")),
                upsample_rates=tuple(int(r) for r in need("upsample_rates")),
                transformer=transformer,
                num_semantic_quantizers=int(raw.get("num_semantic_quantizers", 1)),
            )
        except CheckpointError:
            raise
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: {e}") from e


@dataclass(frozen=True, slots=True)
class CodecConfig:
    decoder: DecoderConfig
    encoder: EncoderConfig
    num_encoder_quantizers: int = 16  # encoder_valid_num_quantizers: the first codebooks of Mimi's 32
    input_sample_rate: int = 24000
    output_sample_rate: int = 24000
    samples_per_frame: int = 1920

    def __post_init__(self) -> None:
        if self.decoder.samples_per_frame != self.samples_per_frame:
            raise CheckpointError(
                f"speech_tokenizer: decode_upsample_rate {self.samples_per_frame} != the decoder's total "
                f"upsampling {self.decoder.samples_per_frame}"
            )
        if self.encoder.samples_per_frame != self.samples_per_frame:
            raise CheckpointError(
                f"speech_tokenizer: encode_downsample_rate {self.samples_per_frame} != the encoder's total "
                f"downsampling {self.encoder.samples_per_frame}"
            )
        if self.encoder.sampling_rate != self.input_sample_rate:
            raise CheckpointError(
                f"speech_tokenizer: input_sample_rate {self.input_sample_rate} != the encoder's "
                f"sampling_rate {self.encoder.sampling_rate}"
            )
        if self.num_encoder_quantizers > self.encoder.num_quantizers:
            raise CheckpointError(
                f"speech_tokenizer: encoder_valid_num_quantizers {self.num_encoder_quantizers} exceeds the "
                f"encoder's num_quantizers {self.encoder.num_quantizers}"
            )
        if self.num_encoder_quantizers != self.decoder.num_quantizers:
            raise CheckpointError(
                f"speech_tokenizer: encoder_valid_num_quantizers {self.num_encoder_quantizers} != decoder "
                f"num_quantizers {self.decoder.num_quantizers}"
            )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CodecConfig:
        if raw.get("model_type", MODEL_TYPE) != MODEL_TYPE:
            raise CheckpointError(
                f"speech_tokenizer: model_type {raw.get('model_type')!r} is not {MODEL_TYPE!r} "
                "(only the 12 Hz tokenizer is supported)"
            )
        for key in ("decoder_config", "encoder_config"):
            if not isinstance(raw.get(key), dict):
                raise CheckpointError(f"speech_tokenizer: missing or malformed {key!r}")
        if raw.get("encode_downsample_rate", 1920) != raw.get("decode_upsample_rate", 1920):
            raise CheckpointError("speech_tokenizer: encode_downsample_rate != decode_upsample_rate")
        return cls(
            decoder=DecoderConfig.from_dict(raw["decoder_config"]),
            encoder=EncoderConfig.from_dict(raw["encoder_config"]),
            num_encoder_quantizers=int(raw.get("encoder_valid_num_quantizers", 16)),
            input_sample_rate=int(raw.get("input_sample_rate", 24000)),
            output_sample_rate=int(raw.get("output_sample_rate", 24000)),
            samples_per_frame=int(raw.get("decode_upsample_rate", 1920)),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> CodecConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise CheckpointError(f"speech tokenizer config not found: {path}") from e
        except json.JSONDecodeError as e:
            raise CheckpointError(f"speech tokenizer config is not valid JSON: {path}: {e}") from e
        return cls.from_dict(raw)
