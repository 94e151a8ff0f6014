"""Configs of the released Qwen3-TTS 12 Hz checkpoints (0.6B and 1.7B), for random-weight benchmarks.

Built on the tiny spec (``qwen_tts/tiny_spec.py``: codec id layout, speakers, languages, tokenizer files) with
the released widths, depths and vocabularies. Standard library only: the official-package side of the
benchmark loads this file by path in the reference virtualenv and passes its own copy of the tiny spec.

Released shapes (from the official configs): talker 28 layers, 16 q / 8 kv heads of 128, M-RoPE sections
[24, 20, 20], text embedding 151936 x 2048 projected to the talker width; 0.6B: talker 1024 wide, MLP 3072;
1.7B: talker 2048 wide, MLP 6144; code predictor (both): 5 layers, 1024 wide, MLP 3072, 16 / 8 heads of 128
(1.7B projects 2048 -> 1024 first); codec decoder: 8 sliding-window layers 512 wide (16 heads of 64,
MLP 1024), latent 1024, codebook dim 512, decoder_dim 1536; encoder: transformers' default Mimi
(the 12.5 Hz one).
"""

from __future__ import annotations

import copy
from types import ModuleType, SimpleNamespace
from typing import Any

SIZES = ("0.6B", "1.7B")
TEXT_VOCAB_SIZE = 151936
_TALKER = {  # size -> (hidden, intermediate)
    "0.6B": (1024, 3072),
    "1.7B": (2048, 6144),
}
_STACK = {"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128}
_PREDICTOR = {
    "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 5, "num_attention_heads": 16,
    "num_key_value_heads": 8, "head_dim": 128, "max_window_layers": 28,
}  # fmt: skip
_DECODER = {
    "hidden_size": 512, "latent_dim": 1024, "codebook_dim": 512, "vector_quantization_hidden_dimension": 512,
    "num_hidden_layers": 8, "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 64,
    "intermediate_size": 1024, "decoder_dim": 1536,
}  # fmt: skip


def model_config(spec: ModuleType | SimpleNamespace, size: str, model_type: str = "custom_voice") -> dict:
    """config.json of a random-weight checkpoint of the released ``size`` ("0.6B" | "1.7B")."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    hidden, intermediate = _TALKER[size]
    config = copy.deepcopy(spec.model_config(model_type, "0b6" if size == "0.6B" else "1b7"))
    talker = config["talker_config"]
    talker.update(_STACK, hidden_size=hidden, intermediate_size=intermediate)
    talker.update(text_hidden_size=2048, text_vocab_size=TEXT_VOCAB_SIZE)
    talker["rope_scaling"]["mrope_section"] = [24, 20, 20]
    talker["code_predictor_config"].update(_PREDICTOR)
    config["speaker_encoder_config"].update(
        enc_dim=hidden, enc_channels=[512, 512, 512, 512, 1536], enc_attention_channels=128,
        enc_se_channels=128,
    )  # fmt: skip
    return config


def speech_tokenizer_config(spec: ModuleType | SimpleNamespace) -> dict[str, Any]:
    """speech_tokenizer/config.json at the released codec shapes."""
    config = copy.deepcopy(spec.speech_tokenizer_config())
    config["decoder_config"].update(_DECODER)
    config["encoder_config"] = {"model_type": "mimi", "use_cache": False}  # transformers' defaults
    return config


def released_spec(spec: ModuleType | SimpleNamespace, size: str) -> SimpleNamespace:
    """``spec`` with its config functions answering the released shapes (what tools/parity builds from)."""
    names = {k: getattr(spec, k) for k in dir(spec) if not k.startswith("__")}
    names["model_config"] = lambda model_type, _size: model_config(spec, size, model_type)
    names["speech_tokenizer_config"] = lambda: speech_tokenizer_config(spec)
    return SimpleNamespace(**names)
