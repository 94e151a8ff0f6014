"""The forced aligner's configuration, read from the released config.json (``thinker_config``).

Only what the maths needs is kept; the rest of the file (generation, dropout, initialiser ranges) is ignored.
Defaults are Qwen3-ForcedAligner-0.6B's, so a config that omits a field means what the released one means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import CheckpointError
from ..layers import TransformerSpec


@dataclass(frozen=True, slots=True)
class AudioEncoderConfig:
    num_mel_bins: int = 128
    num_layers: int = 24
    num_heads: int = 16
    ffn_dim: int = 4096
    d_model: int = 1024
    output_dim: int = 1024
    max_source_positions: int = 1500
    n_window: int = 50  # half a chunk: the conv stack sees chunks of 2 * n_window mel frames (1 s)
    n_window_infer: int = 800  # attention windows span this many mel frames (8 s)
    conv_chunk_size: int = 500  # chunks per conv batch (memory only)
    downsample_hidden_size: int = 480

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of num_heads {self.num_heads}")
        if self.n_window_infer % (2 * self.n_window):
            raise ValueError(f"n_window_infer {self.n_window_infer} is not a multiple of 2 * n_window")

    @property
    def chunk_frames(self) -> int:
        return 2 * self.n_window

    @property
    def conv_out_features(self) -> int:
        """Channels x mel bins after three stride-2 convolutions."""
        return self.downsample_hidden_size * ((((self.num_mel_bins + 1) // 2 + 1) // 2 + 1) // 2)

    def block_spec(self) -> TransformerSpec:
        """Whisper blocks: LayerNorm (eps 1e-5), biased attention and GELU MLP, bidirectional, no RoPE."""
        return TransformerSpec(
            hidden_size=self.d_model,
            intermediate_size=self.ffn_dim,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            num_kv_heads=self.num_heads,
            head_dim=self.d_model // self.num_heads,
            rms_norm_eps=1e-5,
            attention_bias=True,
            mlp_bias=True,
            causal=False,
            norm="layer",
            mlp="gelu",
        )


@dataclass(frozen=True, slots=True)
class AlignerConfig:
    audio: AudioEncoderConfig
    decoder: TransformerSpec
    vocab_size: int
    num_classes: int  # timestamp classes: class k means k * timestamp_segment_ms
    timestamp_segment_ms: float
    audio_token_id: int
    timestamp_token_id: int
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.num_classes <= 0 or self.timestamp_segment_ms <= 0:
            raise ValueError("num_classes and timestamp_segment_ms must be positive")

    @property
    def max_duration_s(self) -> float:
        """The latest time a class can name: longer audio must be aligned in parts."""
        return (self.num_classes - 1) * self.timestamp_segment_ms / 1000.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AlignerConfig:
        try:
            thinker = raw["thinker_config"]
            audio, text = thinker.get("audio_config", {}), thinker["text_config"]
            if "forced_aligner" not in str(thinker.get("model_type", "")):
                raise CheckpointError(
                    f"config.json describes {thinker.get('model_type')!r}, not a forced aligner "
                    "(thinker_config.model_type 'qwen3_forced_aligner')"
                )
            encoder = AudioEncoderConfig(
                num_mel_bins=audio.get("num_mel_bins", 128),
                num_layers=audio.get("encoder_layers", 24),
                num_heads=audio.get("encoder_attention_heads", 16),
                ffn_dim=audio.get("encoder_ffn_dim", 4096),
                d_model=audio.get("d_model", 1024),
                output_dim=audio.get("output_dim", 1024),
                max_source_positions=audio.get("max_source_positions", 1500),
                n_window=audio.get("n_window", 50),
                n_window_infer=audio.get("n_window_infer", 800),
                conv_chunk_size=audio.get("conv_chunksize", 500),
                downsample_hidden_size=audio.get("downsample_hidden_size", 480),
            )
            hidden = text["hidden_size"]
            num_heads = text["num_attention_heads"]
            decoder = TransformerSpec(
                hidden_size=hidden,
                intermediate_size=text["intermediate_size"],
                num_layers=text["num_hidden_layers"],
                num_heads=num_heads,
                num_kv_heads=text.get("num_key_value_heads") or num_heads,
                head_dim=text.get("head_dim") or hidden // num_heads,
                rms_norm_eps=text.get("rms_norm_eps", 1e-6),
                rope_theta=text.get("rope_theta", 1000000.0),
                qk_norm=True,
                attention_bias=text.get("attention_bias", False),
            )
            # The released file keeps the timestamp fields at the top level (and repeats them in the thinker).
            segment_ms = raw.get("timestamp_segment_time", thinker.get("timestamp_segment_time"))
            timestamp_id = raw.get("timestamp_token_id", thinker.get("timestamp_token_id"))
            return cls(
                audio=encoder,
                decoder=decoder,
                vocab_size=text["vocab_size"],
                num_classes=thinker["classify_num"],
                timestamp_segment_ms=float(segment_ms),
                audio_token_id=thinker["audio_token_id"],
                timestamp_token_id=int(timestamp_id),
            )
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"config.json is not a Qwen3-ForcedAligner config: {e!r}") from e
