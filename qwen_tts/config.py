"""Model configuration parsed from the official ``config.json`` and ``generation_config.json``.

Frozen slotted dataclasses, validated on construction; every problem is a ``CheckpointError`` naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError
from .layers import TransformerSpec

MODEL_TYPES = ("custom_voice", "voice_design", "base")


def _require(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise CheckpointError(f"{where}: missing key {key!r}")
    return raw[key]


def _transformer_spec(raw: dict[str, Any], where: str, mrope: bool) -> TransformerSpec:
    if raw.get("hidden_act", "silu") != "silu":
        raise CheckpointError(f"{where}.hidden_act: only 'silu' is supported, got {raw['hidden_act']!r}")
    if raw.get("use_sliding_window", False):
        raise CheckpointError(f"{where}.use_sliding_window: sliding-window layers are not supported here")
    mrope_section, interleaved = None, False
    if mrope:
        rope_scaling = raw.get("rope_scaling") or {}
        if "mrope_section" not in rope_scaling:
            raise CheckpointError(f"{where}.rope_scaling: missing 'mrope_section'")
        if rope_scaling.get("rope_type", rope_scaling.get("type", "default")) != "default":
            raise CheckpointError(f"{where}.rope_scaling: only rope_type 'default' is supported")
        mrope_section = tuple(int(n) for n in rope_scaling["mrope_section"])
        interleaved = bool(rope_scaling.get("interleaved", False))
    num_heads = int(_require(raw, "num_attention_heads", where))
    hidden = int(_require(raw, "hidden_size", where))
    try:
        return TransformerSpec(
            hidden_size=hidden,
            intermediate_size=int(_require(raw, "intermediate_size", where)),
            num_layers=int(_require(raw, "num_hidden_layers", where)),
            num_heads=num_heads,
            num_kv_heads=int(raw.get("num_key_value_heads") or num_heads),
            head_dim=int(raw.get("head_dim") or hidden // num_heads),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            mrope_section=mrope_section,
            mrope_interleaved=interleaved,
            qk_norm=True,
            attention_bias=bool(raw.get("attention_bias", False)),
        )
    except ValueError as e:
        raise CheckpointError(f"{where}: {e}") from e


@dataclass(frozen=True, slots=True)
class CodePredictorConfig:
    transformer: TransformerSpec
    vocab_size: int  # codebook size
    num_code_groups: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CodePredictorConfig:
        where = "talker_config.code_predictor_config"
        return cls(
            transformer=_transformer_spec(raw, where, mrope=False),
            vocab_size=int(_require(raw, "vocab_size", where)),
            num_code_groups=int(_require(raw, "num_code_groups", where)),
        )


@dataclass(frozen=True, slots=True)
class TalkerConfig:
    transformer: TransformerSpec
    vocab_size: int  # codec vocabulary: codebook-0 codes, control ids, languages, speakers
    text_vocab_size: int
    text_hidden_size: int
    num_code_groups: int
    codec_pad_id: int
    codec_bos_id: int
    codec_eos_token_id: int
    codec_think_id: int
    codec_nothink_id: int
    codec_think_bos_id: int
    codec_think_eos_id: int
    spk_id: dict[str, int] = field(default_factory=dict)
    spk_is_dialect: dict[str, str | bool] = field(default_factory=dict)
    codec_language_id: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "codec_pad_id",
            "codec_bos_id",
            "codec_eos_token_id",
            "codec_think_id",
            "codec_nothink_id",
        ):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise CheckpointError(
                    f"talker_config.{name}={getattr(self, name)} outside vocab {self.vocab_size}"
                )
        for table in ("spk_id", "codec_language_id"):
            for name, codec_id in getattr(self, table).items():
                if not 0 <= codec_id < self.vocab_size:
                    raise CheckpointError(
                        f"talker_config.{table}[{name!r}]={codec_id} outside the codec vocab"
                    )
        for name, dialect in self.spk_is_dialect.items():
            if dialect and dialect not in self.codec_language_id:
                raise CheckpointError(f"talker_config.spk_is_dialect[{name!r}]: unknown dialect {dialect!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TalkerConfig:
        where = "talker_config"

        def ids(key: str) -> dict[str, int]:
            table = raw.get(key) or {}
            out = {}
            for name, value in table.items():
                if isinstance(value, list):  # some exports store [id]
                    if len(value) != 1:
                        raise CheckpointError(f"{where}.{key}[{name!r}]: expected one id, got {value}")
                    value = value[0]
                out[name.lower()] = int(value)
            return out

        return cls(
            transformer=_transformer_spec(raw, where, mrope=True),
            vocab_size=int(_require(raw, "vocab_size", where)),
            text_vocab_size=int(_require(raw, "text_vocab_size", where)),
            text_hidden_size=int(_require(raw, "text_hidden_size", where)),
            num_code_groups=int(_require(raw, "num_code_groups", where)),
            codec_pad_id=int(_require(raw, "codec_pad_id", where)),
            codec_bos_id=int(_require(raw, "codec_bos_id", where)),
            codec_eos_token_id=int(_require(raw, "codec_eos_token_id", where)),
            codec_think_id=int(_require(raw, "codec_think_id", where)),
            codec_nothink_id=int(_require(raw, "codec_nothink_id", where)),
            codec_think_bos_id=int(_require(raw, "codec_think_bos_id", where)),
            codec_think_eos_id=int(_require(raw, "codec_think_eos_id", where)),
            spk_id=ids("spk_id"),
            spk_is_dialect={
                k.lower(): (v.lower() if isinstance(v, str) else v)
                for k, v in (raw.get("spk_is_dialect") or {}).items()
            },
            codec_language_id=ids("codec_language_id"),
        )


@dataclass(frozen=True, slots=True)
class SpeakerEncoderConfig:
    mel_dim: int = 128
    enc_dim: int = 1024
    enc_channels: tuple[int, ...] = (512, 512, 512, 512, 1536)
    enc_kernel_sizes: tuple[int, ...] = (5, 3, 3, 3, 1)
    enc_dilations: tuple[int, ...] = (1, 2, 3, 4, 1)
    enc_attention_channels: int = 128
    enc_res2net_scale: int = 8
    enc_se_channels: int = 128
    sample_rate: int = 24000

    def __post_init__(self) -> None:
        if not len(self.enc_channels) == len(self.enc_kernel_sizes) == len(self.enc_dilations):
            raise CheckpointError(
                "speaker_encoder_config: enc_channels, enc_kernel_sizes, enc_dilations differ"
            )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SpeakerEncoderConfig:
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in cls.__slots__}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    talker: TalkerConfig
    code_predictor: CodePredictorConfig
    speaker_encoder: SpeakerEncoderConfig
    tts_model_type: str
    tts_model_size: str
    tts_pad_token_id: int
    tts_bos_token_id: int
    tts_eos_token_id: int
    im_start_token_id: int = 151644
    im_end_token_id: int = 151645

    def __post_init__(self) -> None:
        if self.tts_model_type not in MODEL_TYPES:
            raise CheckpointError(
                f"config.json: tts_model_type must be one of {MODEL_TYPES}, got {self.tts_model_type!r}"
            )
        for name in ("tts_pad_token_id", "tts_bos_token_id", "tts_eos_token_id"):
            if not 0 <= getattr(self, name) < self.talker.text_vocab_size:
                raise CheckpointError(
                    f"config.json: {name} outside the text vocab {self.talker.text_vocab_size}"
                )
        if self.code_predictor.num_code_groups != self.talker.num_code_groups:
            raise CheckpointError("config.json: talker and code predictor disagree on num_code_groups")
        if self.tts_model_type == "custom_voice" and not self.talker.spk_id:
            raise CheckpointError("config.json: a custom_voice model needs talker_config.spk_id")

    @property
    def languages(self) -> tuple[str, ...]:
        """Requestable languages: 'auto' plus every codec language that is not a dialect."""
        return ("auto", *(name for name in self.talker.codec_language_id if "dialect" not in name))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        talker_raw = _require(raw, "talker_config", "config.json")
        return cls(
            talker=TalkerConfig.from_dict(talker_raw),
            code_predictor=CodePredictorConfig.from_dict(
                _require(talker_raw, "code_predictor_config", "talker_config")
            ),
            speaker_encoder=SpeakerEncoderConfig.from_dict(raw.get("speaker_encoder_config") or {}),
            tts_model_type=str(_require(raw, "tts_model_type", "config.json")),
            tts_model_size=str(raw.get("tts_model_size") or ""),
            tts_pad_token_id=int(raw.get("tts_pad_token_id", 151671)),
            tts_bos_token_id=int(raw.get("tts_bos_token_id", 151672)),
            tts_eos_token_id=int(raw.get("tts_eos_token_id", 151673)),
            im_start_token_id=int(raw.get("im_start_token_id", 151644)),
            im_end_token_id=int(raw.get("im_end_token_id", 151645)),
        )

    @classmethod
    def from_file(cls, path: Path) -> ModelConfig:
        return cls.from_dict(read_json(path))


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise CheckpointError(f"missing file {path}") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return data
