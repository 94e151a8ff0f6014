"""Specification of tiny Qwen3-TTS checkpoints: configs and text-tokenizer files.

One source of truth for the tiny configs, shared by our own checkpoint writer (``qwen_tts.tiny_checkpoint``)
and by the parity goldens builder, which runs in the reference virtualenv and loads this file by path.
It therefore imports only the standard library and ``tokenizers`` — never torch, never our package. The
weight-initialisation rules live beside it in ``tiny_weights.py`` (torch only), loaded the same way.

The tiny checkpoints keep every structural feature of the released ones (the real on-disk layout, the real
codec id layout, GQA, qk-norm, M-RoPE sections, a text projection that resizes, a query width that differs
from the hidden width, the predictor projection when its width differs from the talker's, the codec's
sliding window of 72 and layer scale), only at tiny widths. Two shapes mirror the two released sizes:
"0b6" (predictor as wide as the talker, no projection) and "1b7" (narrower predictor, projection).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_TYPES = ("custom_voice", "voice_design", "base")
MODEL_SIZES = ("0b6", "1b7")

# ----------------------------------------------------------------------------------------------------
# Text tokenizer: byte-level BPE over the 256 byte symbols, a few whole-word merges, then the special tokens.
# ----------------------------------------------------------------------------------------------------
# "assistant" and "user" must be single tokens: the official prompt slicing counts tokens
# ("<|im_start|>assistant\n" is exactly three). Their merges come first so nothing can outrank them.
_MERGED_WORDS = (
    "assistant", "user", "Hello", "Ġworld", "Ġthe", "Ġvoice", "Ġspeak", "Ġtest", "ing", "Ġand", "Ġis",
    "Ġa", "Ġof", "Ġto", "Ġin", "Ġsound", "Ġcalm", "Ġwarm", "Ġhappy", "Ġslow", "ly", "er", "ed",
)  # fmt: skip
SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|tts_pad|>", "<|tts_text_bos|>", "<|tts_text_eod|>",
    "<|tts_text_bos_single|>", "<|audio_start|>", "<|audio_end|>",
)  # fmt: skip
# The pre-tokenizer regex of Qwen2's tokenizer.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what ByteLevel pre-tokenization emits)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def text_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The BPE vocabulary (byte symbols, merged words, special tokens — in that id order) and merges."""
    byte_symbols = bytes_to_unicode()
    vocab = {byte_symbols[b]: b for b in range(256)}
    merges: list[tuple[str, str]] = []
    for word in _MERGED_WORDS:
        prefix = word[0]
        for char in word[1:]:
            merged = prefix + char
            if merged not in vocab:
                merges.append((prefix, char))
                vocab[merged] = len(vocab)
            prefix = merged
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    return vocab, merges


def special_token_ids() -> dict[str, int]:
    vocab, _ = text_vocabulary()
    return {token: vocab[token] for token in SPECIAL_TOKENS}


def text_vocab_size() -> int:
    """The text embedding rows: the vocabulary rounded up to a multiple of 64 (as released models pad)."""
    vocab, _ = text_vocabulary()
    return (len(vocab) + 63) // 64 * 64


def write_text_tokenizer(directory: Path) -> None:
    """Write vocab.json, merges.txt, tokenizer.json and tokenizer_config.json of a Qwen2 tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = text_vocabulary()
    regular = {token: i for token, i in vocab.items() if token not in SPECIAL_TOKENS}
    (directory / "vocab.json").write_text(json.dumps(regular, ensure_ascii=False, indent=0), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (directory / "merges.txt").write_text(merges_text, encoding="utf-8")

    tokenizer = Tokenizer(models.BPE(vocab=regular, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    for token, token_id in special_token_ids().items():
        if tokenizer.token_to_id(token) != token_id:
            raise RuntimeError(
                f"special token {token} landed at {tokenizer.token_to_id(token)}, not {token_id}"
            )
    tokenizer.save(str(directory / "tokenizer.json"))

    added = {
        str(token_id): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for token, token_id in special_token_ids().items()
    }
    tokenizer_config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": list(SPECIAL_TOKENS[1:]),
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    _write_json(directory / "tokenizer_config.json", tokenizer_config)


# ----------------------------------------------------------------------------------------------------
# Model configs
# ----------------------------------------------------------------------------------------------------
# The codec id layout of the released talkers: codes 0..2047, control ids from 2148, languages from 2050,
# speakers in the upper block. Every id >= vocab_size - 1024 except EOS is suppressed during generation.
# fmt: off
CODEC_IDS = {
    "codec_pad_id": 2148, "codec_bos_id": 2149, "codec_eos_token_id": 2150, "codec_think_id": 2154,
    "codec_nothink_id": 2155, "codec_think_bos_id": 2156, "codec_think_eos_id": 2157,
}
LANGUAGE_IDS = {
    "chinese": 2055, "english": 2050, "german": 2053, "spanish": 2054, "japanese": 2058, "french": 2061,
    "korean": 2064, "russian": 2069, "italian": 2070, "portuguese": 2071,
    "beijing_dialect": 2074, "sichuan_dialect": 2062,
}
# name -> (codec id, dialect or False); two dialect speakers as in the released CustomVoice models.
SPEAKERS = {
    "vivian": (3065, False), "serena": (3066, False), "uncle_fu": (3010, False), "ryan": (3061, False),
    "aiden": (2861, False), "ono_anna": (2873, False), "sohee": (2864, False),
    "dylan": (2878, "beijing_dialect"), "eric": (2875, "sichuan_dialect"),
}
_SHAPES: dict[str, dict[str, Any]] = {
    # 0.6B-like: query width (4 x 32) differs from hidden 64; predictor as wide as the talker (no
    # projection); text hidden wider than the talker (the projection resizes).
    "0b6": {"hidden": 64, "head_dim": 32, "mrope_section": [6, 5, 5], "text_hidden": 96,
            "predictor_hidden": 64},
    # 1.7B-like: predictor narrower than the talker (small_to_mtp_projection), text hidden == hidden.
    "1b7": {"hidden": 64, "head_dim": 16, "mrope_section": [3, 3, 2], "text_hidden": 64,
            "predictor_hidden": 32},
}
# fmt: on
CODEC_VOCAB_SIZE = 3072
CODEBOOK_SIZE = 2048
NUM_CODE_GROUPS = 16


def _decoder_block(hidden: int, heads: int, kv_heads: int, head_dim: int) -> dict[str, Any]:
    """The fields a Qwen3-style decoder stack (talker or code predictor) shares."""
    return {
        "hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 2,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
        "hidden_act": "silu", "initializer_range": 0.02, "rms_norm_eps": 1e-6, "rope_theta": 1000000,
        "attention_bias": False, "attention_dropout": 0.0, "use_sliding_window": False,
        "sliding_window": None, "num_code_groups": NUM_CODE_GROUPS,
    }  # fmt: skip


def talker_config(size: str, model_type: str) -> dict[str, Any]:
    shape = _SHAPES[size]
    speakers = SPEAKERS if model_type == "custom_voice" else {}
    return {
        "model_type": "qwen3_tts_talker",
        "vocab_size": CODEC_VOCAB_SIZE,
        **_decoder_block(shape["hidden"], heads=4, kv_heads=2, head_dim=shape["head_dim"]),
        "max_position_embeddings": 32768,
        "rope_scaling": {
            "interleaved": True,
            "mrope_section": shape["mrope_section"],
            "rope_type": "default",
        },
        "text_hidden_size": shape["text_hidden"],
        "text_vocab_size": text_vocab_size(),
        "position_id_per_seconds": 13,
        **CODEC_IDS,
        "codec_language_id": dict(LANGUAGE_IDS),
        "spk_id": {name: codec_id for name, (codec_id, _) in speakers.items()},
        "spk_is_dialect": {name: dialect for name, (_, dialect) in speakers.items()},
        "code_predictor_config": code_predictor_config(size),
    }


def code_predictor_config(size: str) -> dict[str, Any]:
    return {
        "model_type": "qwen3_tts_talker_code_predictor",
        "vocab_size": CODEBOOK_SIZE,
        **_decoder_block(_SHAPES[size]["predictor_hidden"], heads=4, kv_heads=2, head_dim=16),
        "max_position_embeddings": 65536,
        "rope_scaling": None,
        "max_window_layers": 2,
    }


def speaker_encoder_config(size: str) -> dict[str, Any]:
    return {
        "mel_dim": 128,  # fixed by the official mel front-end (128 bins at 24 kHz)
        "enc_dim": _SHAPES[size]["hidden"],  # the x-vector is fed in place of a speaker codec embedding
        "enc_channels": [32, 32, 32, 32, 96],
        "enc_kernel_sizes": [5, 3, 3, 3, 1],
        "enc_dilations": [1, 2, 3, 4, 1],
        "enc_attention_channels": 16,
        "enc_res2net_scale": 8,
        "enc_se_channels": 16,
        "sample_rate": 24000,
    }


def model_config(model_type: str, size: str) -> dict[str, Any]:
    """The top-level config.json of a tiny checkpoint."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    if size not in MODEL_SIZES:
        raise ValueError(f"size must be one of {MODEL_SIZES}, got {size!r}")
    vocab, _ = text_vocabulary()
    special = special_token_ids()
    return {
        "architectures": ["Qwen3TTSForConditionalGeneration"],
        "model_type": "qwen3_tts",
        "tokenizer_type": "qwen3_tts_tokenizer_12hz",
        "tts_model_type": model_type,
        "tts_model_size": size,
        "im_start_token_id": special["<|im_start|>"],
        "im_end_token_id": special["<|im_end|>"],
        "tts_pad_token_id": special["<|tts_pad|>"],
        "tts_bos_token_id": special["<|tts_text_bos|>"],
        "tts_eos_token_id": special["<|tts_text_eod|>"],
        "assistant_token_id": vocab["assistant"],
        "talker_config": talker_config(size, model_type),
        "speaker_encoder_config": speaker_encoder_config(size),
    }


def generation_config() -> dict[str, Any]:
    """generation_config.json: the released sampling defaults."""
    return {
        "do_sample": True, "repetition_penalty": 1.05, "temperature": 0.9, "top_p": 1.0, "top_k": 50,
        "subtalker_dosample": True, "subtalker_temperature": 0.9, "subtalker_top_k": 50,
        "subtalker_top_p": 1.0, "max_new_tokens": 8192,
    }  # fmt: skip


def speech_tokenizer_config() -> dict[str, Any]:
    """speech_tokenizer/config.json: Mimi encoder + the causal 12.5 Hz decoder (1920 samples per frame)."""
    # fmt: off
    encoder = {
        "model_type": "mimi", "sampling_rate": 24000, "frame_rate": 12.5, "audio_channels": 1,
        "hidden_size": 32, "num_filters": 4, "num_residual_layers": 1, "upsampling_ratios": [8, 6, 5, 4],
        "kernel_size": 7, "last_kernel_size": 3, "residual_kernel_size": 3, "dilation_growth_rate": 2,
        "use_causal_conv": True, "pad_mode": "constant", "compress": 2, "trim_right_ratio": 1.0,
        "codebook_size": CODEBOOK_SIZE, "codebook_dim": 16, "num_quantizers": 32,
        "num_semantic_quantizers": 1,
        "vector_quantization_hidden_dimension": 16, "upsample_groups": 32, "num_hidden_layers": 2,
        "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 8,
        "hidden_act": "gelu", "max_position_embeddings": 8000, "initializer_range": 0.02, "norm_eps": 1e-5,
        "use_cache": False, "rope_theta": 10000.0, "sliding_window": 250, "attention_dropout": 0.0,
        "layer_scale_initial_scale": 0.01, "attention_bias": False,
    }
    decoder = {
        "codebook_size": CODEBOOK_SIZE, "codebook_dim": 16, "semantic_codebook_size": 4096,
        "num_semantic_quantizers": 1, "vector_quantization_hidden_dimension": 16,
        "hidden_size": 32, "latent_dim": 32,
        "head_dim": 16,  # 4 heads x 16 = 64, wider than hidden 32, as in the released codec
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 64, "num_hidden_layers": 2,
        "hidden_act": "silu", "max_position_embeddings": 8000, "rope_theta": 10000, "rms_norm_eps": 1e-5,
        "sliding_window": 72, "layer_scale_initial_scale": 0.01, "attention_bias": False,
        "attention_dropout": 0.0, "num_quantizers": NUM_CODE_GROUPS, "upsample_rates": [8, 5, 4, 3],
        "upsampling_ratios": [2, 2], "decoder_dim": 32,
    }
    # fmt: on
    return {
        "architectures": ["Qwen3TTSTokenizerV2Model"],
        "model_type": "qwen3_tts_tokenizer_12hz",
        "encoder_valid_num_quantizers": NUM_CODE_GROUPS,
        "input_sample_rate": 24000,
        "output_sample_rate": 24000,
        "decode_upsample_rate": 1920,
        "encode_downsample_rate": 1920,
        "encoder_config": encoder,
        "decoder_config": decoder,
    }


def speech_tokenizer_preprocessor_config() -> dict[str, Any]:
    return {
        "chunk_length_s": None,
        "feature_extractor_type": "EncodecFeatureExtractor",
        "feature_size": 1,
        "overlap": None,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "sampling_rate": 24000,
    }


def write_support_files(directory: Path) -> None:
    """Everything of a checkpoint except config.json and the weights: generation config, processor and
    tokenizer files, and speech_tokenizer/preprocessor_config.json."""
    directory = Path(directory)
    write_text_tokenizer(directory)
    _write_json(directory / "generation_config.json", generation_config())
    _write_json(directory / "preprocessor_config.json", {"processor_class": "Qwen3TTSProcessor"})
    _write_json(
        directory / "speech_tokenizer" / "preprocessor_config.json", speech_tokenizer_preprocessor_config()
    )


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
