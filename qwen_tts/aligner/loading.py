"""Loading a forced-aligner checkpoint through the TTS models' code path (``qwen_tts.loading``).

A hub repo id (downloaded when the hub is reachable, else a clear error) or a local directory in the released
layout: config.json, preprocessor_config.json, model.safetensors (or shards), the Qwen2 tokenizer files.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import read_json
from ..errors import CheckpointError
from ..layers import RotaryEmbedding
from ..loading import load_weights, read_weights, resolve_model_dir
from .config import AlignerConfig
from .encoder import AudioEncoder
from .model import AlignerModel
from .weights import our_name

REQUIRED_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json")


def resolve_aligner_dir(name_or_path: str | Path, *, revision: str | None = None) -> Path:
    return resolve_model_dir(name_or_path, revision=revision, required_files=REQUIRED_FILES)


def read_config(model_dir: Path) -> AlignerConfig:
    config = AlignerConfig.from_dict(read_json(model_dir / "config.json"))
    _check_front_end(model_dir / "preprocessor_config.json", config)
    return config


def _check_front_end(path: Path, config: AlignerConfig) -> None:
    """Our log-mel front end is Whisper's at 16 kHz, 25 ms windows, 10 ms hops: refuse anything else."""
    raw = read_json(path)
    expected = {
        "feature_size": config.audio.num_mel_bins,
        "sampling_rate": config.sample_rate,
        "hop_length": 160,
        "n_fft": 400,
    }
    wrong = {key: raw.get(key) for key, value in expected.items() if raw.get(key, value) != value}
    if raw.get("dither", 0.0) != 0.0:
        wrong["dither"] = raw["dither"]
    if wrong:
        raise CheckpointError(
            f"{path} asks for a front end we do not implement: {wrong} (expected {expected})"
        )


def build_aligner(model_dir: Path, config: AlignerConfig, device: str, dtype: torch.dtype) -> AlignerModel:
    """Built on the meta device, the checkpoint's tensors assigned (no random init, no second copy)."""
    with torch.device("meta"):
        model = AlignerModel(config)
    tensors = {our_name(name): tensor for name, tensor in read_weights(model_dir).items()}
    load_weights(model, tensors, assign=True)
    for module in model.modules():
        if isinstance(module, (RotaryEmbedding, AudioEncoder)):
            module.compute_buffers()  # derived buffers: still shapes on meta
    return model.to(device=device, dtype=dtype).eval()
