"""Checkpoint tensor names -> our module names for ``speech_tokenizer/model.safetensors``, declared here only.

The checkpoint is the official ``Qwen3TTSTokenizerV2Model``: ``decoder.*`` (our ``CodecDecoder``, same names
except the flattened codebooks) and ``encoder.*`` (a transformers-4 ``MimiModel`` without its decoder half:
our ``CodecEncoder``, whose parts are named ``seanet``, ``transformer``, ``downsample`` and ``quantizer``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError

# (checkpoint pattern, our name): applied in turn to names that are not ours as they stand.
RENAMES: tuple[tuple[str, str], ...] = (
    (
        r"^decoder\.quantizer\.(rvq_first|rvq_rest)\.vq\.layers\.(\d+)\._codebook\.",
        r"decoder.quantizer.\1.codebooks.\2.",
    ),
    (r"^encoder\.encoder\.layers\.", "encoder.seanet.layers."),
    (r"^encoder\.encoder_transformer\.", "encoder.transformer."),
    (r"^encoder\.quantizer\.semantic_residual_vector_quantizer\.", "encoder.quantizer.rvq_first."),
    (r"^encoder\.quantizer\.acoustic_residual_vector_quantizer\.", "encoder.quantizer.rvq_rest."),
    (
        r"^(encoder\.quantizer\.rvq_\w+)\.layers\.(\d+)\.codebook\.embed_sum$",
        r"\1.codebooks.\2.embedding_sum",
    ),
    (r"^(encoder\.quantizer\.rvq_\w+)\.layers\.(\d+)\.codebook\.", r"\1.codebooks.\2."),
)
# Checkpoint tensors we do not use: the decoder-side quantizer's input projections and the encoder-side
# quantizer's output projections serve training (each side runs one direction); the encoder codebooks'
# ``initialized`` flags are training state.
IGNORED: tuple[str, ...] = (
    r"^decoder\.quantizer\.rvq_(first|rest)\.input_proj\.weight$",
    r"^encoder\.quantizer\.(semantic|acoustic)_residual_vector_quantizer\.output_proj\.weight$",
    r"^encoder\.quantizer\.(semantic|acoustic)_residual_vector_quantizer\.layers\.\d+\.codebook\.initialized$",
)


def read_safetensors(
    directory: Path, keep: Callable[[str], bool] = lambda name: True, *, shapes_only: bool = False
) -> dict[str, torch.Tensor]:
    """The tensors named ``keep`` of ``model.safetensors`` or of the shards ``model.safetensors.index.json``
    lists; ``shapes_only``: read from the headers alone, as tensors on the meta device (no data read)."""
    tensors: dict[str, torch.Tensor] = {}
    for shard in _shards(directory):
        try:
            with safe_open(shard, framework="pt") as file:
                for name in filter(keep, file.keys()):
                    tensors[name] = (
                        torch.empty(file.get_slice(name).get_shape(), device="meta")
                        if shapes_only
                        else file.get_tensor(name)
                    )
        except (OSError, SafetensorError) as e:
            raise CheckpointError(f"cannot read {shard}: {e}") from e
    return tensors


def _shards(directory: Path) -> list[Path]:
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        return [single]
    if not index.is_file():
        raise CheckpointError(f"no model.safetensors (or sharded index) in {directory}")
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, KeyError) as e:
        raise CheckpointError(f"malformed {index}: {e}") from e
    missing = [shard for shard in shards if not (directory / shard).is_file()]
    if missing:
        raise CheckpointError(f"shard {missing[0]} listed in {index} is missing")
    return [directory / shard for shard in shards]


def to_our_names(checkpoint: dict[str, torch.Tensor], ours: set[str]) -> dict[str, torch.Tensor]:
    """Renames checkpoint tensors to ``ours``; drops the ignored ones; raises naming any unexpected tensor."""
    renamed: dict[str, torch.Tensor] = {}
    unexpected = []
    for name, tensor in checkpoint.items():
        target = name
        for pattern, replacement in RENAMES:
            if target in ours:
                break
            target = re.sub(pattern, replacement, target)
        if target in ours:
            renamed[target] = tensor
        elif not any(re.search(pattern, name) for pattern in IGNORED):
            unexpected.append(name)
    if unexpected:
        raise CheckpointError(
            f"unexpected tensors in the speech tokenizer checkpoint: {_listing(unexpected)}"
        )
    return renamed


def load_checked(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Loads ``tensors`` into ``module``, requiring every tensor present and every shape equal."""
    check_tensors(module.state_dict(), tensors, where)
    module.load_state_dict(tensors, strict=True)


def check_tensors(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raises a ``CheckpointError`` naming the tensors of ``expected`` missing from ``tensors`` or shaped
    otherwise (either side may be on the meta device: only names and shapes are compared)."""
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"{where}: missing tensors {_listing(missing)}")
    mismatched = [
        f"{name} {tuple(tensors[name].shape)} != {tuple(expected[name].shape)}"
        for name in expected
        if tensors[name].shape != expected[name].shape
    ]
    if mismatched:
        raise CheckpointError(f"{where}: shape mismatch (checkpoint != config) for {_listing(mismatched)}")


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
