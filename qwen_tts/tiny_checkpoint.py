"""Tiny random-weight checkpoints in the released on-disk layout, written by our own classes.

For the demo server and self-contained tests: every feature works (CustomVoice speakers and dialects,
VoiceDesign, Base cloning); the audio is noise. The configs and tokenizer files come from ``tiny_spec`` and
the initialisation rules from ``tiny_weights`` — the same ones the parity goldens are built with, from the
official classes, so both kinds of tiny checkpoint have the same files, tensor names, shapes and scales.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import tiny_spec, tiny_weights
from .codec import CodecConfig, SpeechTokenizer
from .codec.weights import to_our_names
from .config import ModelConfig
from .loading import official_name
from .model import TTSModel
from .speaker_encoder import SpeakerEncoder

# The released size of each model type (VoiceDesign exists only as 1.7B).
DEFAULT_SIZES = {"custom_voice": "0b6", "voice_design": "1b7", "base": "0b6"}
# Our speech-tokenizer names -> the official checkpoint's: the inverse of codec.weights.RENAMES (first match).
_CODEC_OFFICIAL_NAMES: tuple[tuple[str, str], ...] = (
    (r"^decoder\.quantizer\.(rvq_first|rvq_rest)\.codebooks\.(\d+)\.",
     r"decoder.quantizer.\1.vq.layers.\2._codebook."),
    (r"^encoder\.seanet\.layers\.", "encoder.encoder.layers."),
    (r"^encoder\.transformer\.", "encoder.encoder_transformer."),
    (r"^encoder\.quantizer\.rvq_first\.codebooks\.(\d+)\.embedding_sum$",
     r"encoder.quantizer.semantic_residual_vector_quantizer.layers.\1.codebook.embed_sum"),
    (r"^encoder\.quantizer\.rvq_rest\.codebooks\.(\d+)\.embedding_sum$",
     r"encoder.quantizer.acoustic_residual_vector_quantizer.layers.\1.codebook.embed_sum"),
    (r"^encoder\.quantizer\.rvq_first\.codebooks\.(\d+)\.",
     r"encoder.quantizer.semantic_residual_vector_quantizer.layers.\1.codebook."),
    (r"^encoder\.quantizer\.rvq_rest\.codebooks\.(\d+)\.",
     r"encoder.quantizer.acoustic_residual_vector_quantizer.layers.\1.codebook."),
    (r"^encoder\.quantizer\.rvq_first\.", "encoder.quantizer.semantic_residual_vector_quantizer."),
    (r"^encoder\.quantizer\.rvq_rest\.", "encoder.quantizer.acoustic_residual_vector_quantizer."),
)  # fmt: skip
_CODEC_SEED_OFFSET = 7


def write_tiny_checkpoint(
    directory: str | Path, model_type: str, size: str | None = None, seed: int = 0
) -> Path:
    """Writes a complete model directory for ``model_type`` ("custom_voice" | "voice_design" | "base"):
    config.json, generation_config.json, model.safetensors, the text-tokenizer files and speech_tokenizer/.

    ``size`` ("0b6" | "1b7") picks the shape family (default: the released size of the type); ``seed``
    makes the weights. Returns ``directory``.
    """
    if model_type not in tiny_spec.MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(tiny_spec.MODEL_TYPES)}, got {model_type!r}")
    size = size or DEFAULT_SIZES[model_type]
    directory = Path(directory)
    raw_config = tiny_spec.model_config(model_type, size)
    config = ModelConfig.from_dict(raw_config)
    speaker_encoder = SpeakerEncoder(config.speaker_encoder) if model_type == "base" else None
    model = TTSModel(config, speaker_encoder)
    tiny_weights.init_weights(model, seed)

    (directory / "speech_tokenizer").mkdir(parents=True, exist_ok=True)
    save_file(
        {official_name(name): t.contiguous() for name, t in model.state_dict().items()},
        str(directory / "model.safetensors"),
    )
    _write_json(directory / "config.json", raw_config)
    save_file(
        _codec_tensors(seed + _CODEC_SEED_OFFSET), str(directory / "speech_tokenizer" / "model.safetensors")
    )
    _write_json(directory / "speech_tokenizer" / "config.json", tiny_spec.speech_tokenizer_config())
    tiny_spec.write_support_files(directory)
    return directory


@torch.no_grad()
def _codec_tensors(seed: int) -> dict[str, torch.Tensor]:
    """The speech tokenizer's tensors under the official checkpoint names, output gain calibrated."""
    codec = SpeechTokenizer(CodecConfig.from_dict(tiny_spec.speech_tokenizer_config())).eval()
    tiny_weights.init_weights(codec, seed)
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, tiny_spec.CODEBOOK_SIZE, (1, 12, tiny_spec.NUM_CODE_GROUPS), generator=gen)
    final_conv = [m for m in codec.decoder.modules() if isinstance(m, torch.nn.Conv1d)][-1]
    tiny_weights.calibrate_output_gain(final_conv, lambda: codec.decoder(codes))

    ours = codec.state_dict()
    tensors = {_codec_official_name(name): t.contiguous() for name, t in ours.items()}
    if set(to_our_names(tensors, set(ours))) != set(ours):  # the inverse mapping drifted from the loader's
        raise RuntimeError("speech tokenizer names do not round-trip through codec.weights.to_our_names")
    # The released checkpoint also holds tensors only training uses (our loader skips them): the decoder-side
    # quantizers' input projections, the encoder-side ones' output projections and codebook flags. Written
    # for an exact layout.
    config = tiny_spec.speech_tokenizer_config()
    dim = config["decoder_config"]["codebook_dim"]
    for part in ("rvq_first", "rvq_rest"):
        projection = torch.randn(dim // 2, dim, 1, generator=gen) / dim**0.5
        tensors[f"decoder.quantizer.{part}.input_proj.weight"] = projection
    encoder = codec.config.encoder
    for part, count in (("semantic", 1), ("acoustic", encoder.num_quantizers - 1)):
        prefix = f"encoder.quantizer.{part}_residual_vector_quantizer"
        if encoder.project_to_codebooks:
            projection = torch.randn(encoder.hidden_size, encoder.codebook_dim, 1, generator=gen)
            tensors[f"{prefix}.output_proj.weight"] = projection / encoder.codebook_dim**0.5
        for index in range(count):
            tensors[f"{prefix}.layers.{index}.codebook.initialized"] = torch.ones(1)
    return tensors


def _codec_official_name(name: str) -> str:
    for pattern, replacement in _CODEC_OFFICIAL_NAMES:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    return name


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
