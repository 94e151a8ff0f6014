"""Tiny random-weight forced-aligner checkpoints in the released layout, written by our own classes.

For ``--demo`` and self-contained tests (the timings are arbitrary but well-formed), and for the parity
goldens, which load these files with the official classes. Everything structural is the released model's
(the config layout, the Whisper front end, 1 s conv chunks and 8 s attention windows, GQA, qk-norm,
interleaved M-RoPE sections, 5000 classes of 80 ms); only the widths and depths are tiny.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from .. import tiny_spec, tiny_weights
from .config import AlignerConfig
from .model import AlignerModel
from .weights import official_name

ADDED_TOKENS = ("<|audio_pad|>", "<timestamp>")  # beyond the TTS tiny vocabulary's specials
AUDIO_SPECIALS = {"audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
                  "audio_eos_token": "<|audio_end|>"}  # fmt: skip
_CONV_SEED_OFFSET = 11


def token_ids() -> dict[str, int]:
    """The ids of the aligner's special tokens in the tiny vocabulary (appended after the TTS ones)."""
    vocab, _ = tiny_spec.text_vocabulary()
    ids = {token: vocab[token] for token in ("<|audio_start|>", "<|audio_end|>")}
    for offset, token in enumerate(ADDED_TOKENS):
        ids[token] = len(vocab) + offset
    return ids


def config_dict() -> dict[str, Any]:
    ids = token_ids()
    vocab_size = (max(ids.values()) + 1 + 63) // 64 * 64
    return {
        "architectures": ["Qwen3ASRForConditionalGeneration"],
        "model_type": "qwen3_asr",
        "timestamp_token_id": ids["<timestamp>"],
        "timestamp_segment_time": 80,
        "support_languages": ["Chinese", "English", "Cantonese", "French", "German", "Italian", "Japanese",
                              "Korean", "Portuguese", "Russian", "Spanish"],
        "thinker_config": {
            "model_type": "qwen3_forced_aligner",
            "classify_num": 5000,
            "audio_token_id": ids["<|audio_pad|>"],
            "audio_start_token_id": ids["<|audio_start|>"],
            "audio_end_token_id": ids["<|audio_end|>"],
            "timestamp_token_id": ids["<timestamp>"],
            "timestamp_segment_time": 80,
            "audio_config": {
                "num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 64,
                "d_model": 32, "output_dim": 48, "max_source_positions": 1500, "n_window": 50,
                "n_window_infer": 800, "conv_chunksize": 500, "downsample_hidden_size": 8,
                "activation_function": "gelu", "scale_embedding": False,
            },
            "text_config": {
                "vocab_size": vocab_size, "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "silu",
                "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 65536,
                "tie_word_embeddings": False, "attention_bias": False,
                "rope_scaling": {"rope_type": "default", "mrope_section": [2, 3, 3], "interleaved": True,
                                 "mrope_interleaved": True},
            },
        },
    }  # fmt: skip


def preprocessor_config() -> dict[str, Any]:
    """The released front end: Whisper's log-mel at 16 kHz."""
    return {
        "feature_extractor_type": "WhisperFeatureExtractor", "processor_class": "Qwen3ASRProcessor",
        "feature_size": 128, "sampling_rate": 16000, "hop_length": 160, "n_fft": 400, "chunk_length": 30,
        "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
        "return_attention_mask": True, "dither": 0.0,
    }  # fmt: skip


def write_tiny_aligner(directory: str | Path, seed: int = 0) -> Path:
    """Writes config.json, preprocessor_config.json, model.safetensors and the tokenizer files; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    raw = config_dict()
    model = AlignerModel(AlignerConfig.from_dict(raw))
    tiny_weights.init_weights(model, seed)
    _init_convs(model, seed + _CONV_SEED_OFFSET)
    tensors = {official_name(name): t.contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"))
    _write_json(directory / "preprocessor_config.json", preprocessor_config())
    _write_tokenizer(directory)
    _write_json(directory / "config.json", raw)  # last: a directory with a config.json is complete
    return directory


@torch.no_grad()
def _init_convs(model: nn.Module, seed: int) -> None:
    """The rules of ``tiny_weights`` do not cover Conv2d: fan-in-scaled normals, small biases."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / math.sqrt(fan_in))
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.02)


def _write_tokenizer(directory: Path) -> None:
    """The TTS tiny tokenizer, plus the audio-pad and timestamp specials and the audio token attributes."""
    from tokenizers import AddedToken, Tokenizer

    tiny_spec.write_text_tokenizer(directory)
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ADDED_TOKENS])
    ids = token_ids()
    for token in ADDED_TOKENS:
        if tokenizer.token_to_id(token) != ids[token]:
            raise RuntimeError(f"{token} landed at {tokenizer.token_to_id(token)}, not {ids[token]}")
    tokenizer.save(str(directory / "tokenizer.json"))
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for token in ADDED_TOKENS:
        config["added_tokens_decoder"][str(ids[token])] = {
            "content": token, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": True,
        }  # fmt: skip
    config["additional_special_tokens"] = [*config["additional_special_tokens"], *ADDED_TOKENS]
    config["extra_special_tokens"] = AUDIO_SPECIALS
    _write_json(config_path, config)


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
