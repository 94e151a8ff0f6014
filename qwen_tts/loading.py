"""Finding a checkpoint and reading its weights and text tokenizer.

A checkpoint is the official Hugging Face layout: config.json, generation_config.json, model.safetensors (or
shards listed in model.safetensors.index.json), the Qwen2 tokenizer files, and speech_tokenizer/. Anything
missing, unexpected or mis-shaped is a ``CheckpointError`` naming the file or tensor — never random weights.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors.torch import load_file
from torch import nn

from .errors import CheckpointError

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "speech_tokenizer/config.json")
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"

# Official tensor names -> ours, first match wins. Everything not listed keeps its name.
WEIGHT_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"^talker\.model\.(layers|norm)\.", r"talker.transformer.\1."),
    (r"^talker\.model\.(codec_embedding|text_embedding)\.", r"talker.\1."),
    (r"^talker\.code_predictor\.model\.(layers|norm)\.", r"talker.code_predictor.transformer.\1."),
    (r"^talker\.code_predictor\.model\.codec_embedding\.", r"talker.code_predictor.codec_embedding."),
)
_COMPILED_RULES = tuple((re.compile(pattern), repl) for pattern, repl in WEIGHT_NAME_RULES)
# The same rules backwards (ours -> official), for writing checkpoints in the official layout.
OFFICIAL_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"^talker\.transformer\.(layers|norm)\.", r"talker.model.\1."),
    (r"^talker\.(codec_embedding|text_embedding)\.", r"talker.model.\1."),
    (r"^talker\.code_predictor\.transformer\.(layers|norm)\.", r"talker.code_predictor.model.\1."),
    (r"^talker\.code_predictor\.codec_embedding\.", r"talker.code_predictor.model.codec_embedding."),
)
_COMPILED_OFFICIAL_RULES = tuple((re.compile(pattern), repl) for pattern, repl in OFFICIAL_NAME_RULES)


def _rename(name: str, rules) -> str:
    for pattern, repl in rules:
        renamed, count = pattern.subn(repl, name)
        if count:
            return renamed
    return name


def our_name(official_name: str) -> str:
    return _rename(official_name, _COMPILED_RULES)


def official_name(name: str) -> str:
    return _rename(name, _COMPILED_OFFICIAL_RULES)


def resolve_model_dir(name_or_path: str | Path, *, revision: str | None = None) -> Path:
    """A local checkpoint directory, or a Hugging Face repo id fetched into the local cache."""
    path = Path(name_or_path).expanduser()
    looks_local = path.is_absolute() or str(name_or_path).startswith((".", "~")) or path.exists()
    if not looks_local and str(name_or_path).count("/") == 1:
        path = _download(str(name_or_path), revision)
    if not path.is_dir():
        raise CheckpointError(f"model directory {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not (path / WEIGHTS_FILE).is_file() and not (path / WEIGHTS_INDEX_FILE).is_file():
        missing.append(WEIGHTS_FILE)
    if missing:
        raise CheckpointError(f"model directory {path} is incomplete: missing {', '.join(missing)}")
    return path


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT):
        raise CheckpointError(
            f"{repo_id} is not in the local Hugging Face cache and {constants.ENDPOINT} cannot be reached; "
            "download it where there is network access (huggingface-cli download) or pass a local directory"
        )
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as e:  # the hub client raises many types (HTTP, repo not found, ...)
        raise CheckpointError(f"could not download {repo_id} from {constants.ENDPOINT}: {e}") from e


def _reachable(endpoint: str, timeout_s: float = 3.0) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of model.safetensors (or its shards), under our names."""
    index_path = model_dir / WEIGHTS_INDEX_FILE
    if index_path.is_file():
        try:
            shards = sorted(set(json.loads(index_path.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError) as e:
            raise CheckpointError(f"{index_path} is not a valid safetensors index: {e}") from e
    else:
        shards = [WEIGHTS_FILE]
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        shard_path = model_dir / shard
        if not shard_path.is_file():
            raise CheckpointError(f"missing weights file {shard_path}")
        try:
            loaded = load_file(str(shard_path))
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise CheckpointError(f"cannot read {shard_path}: {e}") from e
        tensors.update({our_name(name): tensor for name, tensor in loaded.items()})
    return tensors


def load_weights(
    module: nn.Module, tensors: dict[str, torch.Tensor], *, ignore_prefixes: tuple[str, ...] = ()
):
    """Copies ``tensors`` into ``module``: every parameter must be present with its exact shape, and every
    tensor must be used (except those under ``ignore_prefixes``)."""
    expected = module.state_dict()
    wanted = {k: v for k, v in tensors.items() if not k.startswith(ignore_prefixes)}
    missing = sorted(set(expected) - set(wanted))
    unexpected = sorted(set(wanted) - set(expected))
    if missing:
        raise CheckpointError(f"checkpoint lacks {len(missing)} tensor(s): {', '.join(missing[:8])}")
    if unexpected:
        raise CheckpointError(
            f"checkpoint has {len(unexpected)} unexpected tensor(s): {', '.join(unexpected[:8])}"
        )
    for name, target in expected.items():
        if wanted[name].shape != target.shape:
            raise CheckpointError(
                f"tensor {name} has shape {tuple(wanted[name].shape)}, the config implies "
                f"{tuple(target.shape)}"
            )
    ignored = len(tensors) - len(wanted)
    if ignored:
        logger.debug("ignored %d checkpoint tensors under %s", ignored, ignore_prefixes)
    module.load_state_dict(wanted, strict=True)


def load_text_tokenizer(model_dir: Path):
    """The checkpoint's text tokenizer: the class its tokenizer_config.json names (Qwen2Tokenizer), loaded
    directly — AutoTokenizer would also parse config.json, which transformers does not know."""
    import transformers

    config_path = model_dir / "tokenizer_config.json"
    try:
        class_name = json.loads(config_path.read_text(encoding="utf-8")).get("tokenizer_class")
        tokenizer_class = getattr(transformers, class_name or "", None) or transformers.AutoTokenizer
        return tokenizer_class.from_pretrained(str(model_dir))
    except Exception as e:  # transformers raises OSError/ValueError/... for missing or bad files
        raise CheckpointError(f"cannot load the text tokenizer from {model_dir}: {e}") from e
