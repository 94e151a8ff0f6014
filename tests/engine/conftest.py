"""Tiny random-weight checkpoints written by our own code (qwen_tts.tiny_checkpoint), one per model type."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_tts import TTSEngine
from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

# name -> (model type, size): 0b6 drops instruct on CustomVoice, 1b7 has the predictor projection
TINY_MODELS = {
    "custom_voice": ("custom_voice", "0b6"),
    "custom_voice_1b7": ("custom_voice", "1b7"),
    "voice_design": ("voice_design", "1b7"),
    "base": ("base", "0b6"),
}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """name -> directory of a tiny checkpoint, written on first use."""
    root = tmp_path_factory.mktemp("tiny_checkpoints")
    written: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            model_type, size = TINY_MODELS[name]
            written[name] = write_tiny_checkpoint(root / name, model_type, size=size, seed=len(written))
        return written[name]

    return get


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint):
    """name -> a TTSEngine on that tiny checkpoint (loaded once)."""
    engines: dict[str, TTSEngine] = {}

    def get(name: str) -> TTSEngine:
        if name not in engines:
            engines[name] = TTSEngine.from_pretrained(tiny_checkpoint(name), max_seq_len=512)
        return engines[name]

    return get
