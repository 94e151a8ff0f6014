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
from itertools import chain
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import safe_open
from torch import nn

from .config import ModelConfig
from .errors import CheckpointError
from .layers import RotaryEmbedding
from .model import TTSModel
from .speaker_encoder import SpeakerEncoder

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "speech_tokenizer/config.json")
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
TEXT_EMBEDDING = "talker.text_embedding.weight"
# Read through a file mapping of their own: kept as stored while the rest is converted, they must not keep the
# other tensors' (already converted) pages mapped and counted as resident.
OWN_MAPPING = frozenset({TEXT_EMBEDDING})

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


def resolve_model_dir(
    name_or_path: str | Path, *, revision: str | None = None, required_files: tuple[str, ...] = REQUIRED_FILES
) -> Path:
    """A local checkpoint directory, or a Hugging Face repo id fetched into the local cache; it must hold
    ``required_files`` (a TTS model's by default) and the weights."""
    path = Path(name_or_path).expanduser()
    looks_local = path.is_absolute() or str(name_or_path).startswith((".", "~")) or path.exists()
    if not looks_local and str(name_or_path).count("/") == 1:
        path = _download(str(name_or_path), revision)
    if not path.is_dir():
        raise CheckpointError(f"model directory {path} does not exist")
    missing = [name for name in required_files if not (path / name).is_file()]
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
            f"download it where there is network access (hf download {repo_id} --local-dir DIR) "
            "and pass that local directory"
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
    """All tensors of model.safetensors (or its shards), under our names, as views of private (copy-on-write)
    file mappings: nothing is read until used."""
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
        tensors.update(_read_shard(shard_path))
    return tensors


def _read_shard(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as shard:
            names = {our_name(name): name for name in shard.keys()}  # noqa: SIM118 (not iterable)
            tensors = {ours: shard.get_tensor(names[ours]) for ours in names.keys() - OWN_MAPPING}
        for ours in OWN_MAPPING & names.keys():
            with safe_open(str(path), framework="pt") as own:
                tensors[ours] = own.get_tensor(names[ours])
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"cannot read {path}: {e}") from e
    return tensors


def build_model(
    model_dir: Path,
    config: ModelConfig,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TTSModel:
    """The model of ``model_dir`` on ``device`` in ``dtype``, without random initialisation or a second copy.

    Constructed on the meta device, then the checkpoint tensors are assigned rather than copied: one already
    in ``dtype`` on CPU stays a view of the file mapping, its pages read on first use. The text embedding
    keeps the checkpoint's dtype and, on CPU, its mapping: a prompt reads a few of its rows, and converting it
    would make the whole table resident (151936 x 2048: 1.2 GB in float32). ``Talker.embed_text`` casts rows.
    """
    with torch.device("meta"):
        speaker_encoder = SpeakerEncoder(config.speaker_encoder) if config.tts_model_type == "base" else None
        model = TTSModel(config, speaker_encoder)
    ignored = () if speaker_encoder else ("speaker_encoder.",)
    load_weights(model, read_weights(model_dir), ignore_prefixes=ignored, assign=True)
    for module in model.modules():
        if isinstance(module, RotaryEmbedding):
            module.compute_buffers()  # non-persistent: still shapes on meta
    on_meta = [name for name, t in chain(model.named_parameters(), model.named_buffers()) if t.is_meta]
    if on_meta:
        raise RuntimeError(f"left on the meta device after loading: {', '.join(on_meta)}")
    text_embedding = model.talker.text_embedding
    table = text_embedding.weight
    text_embedding.weight = None  # out of the dtype conversion below
    model.to(device=device, dtype=dtype)
    text_embedding.weight = nn.Parameter(table.detach().to(device), requires_grad=table.requires_grad)
    return model


def load_weights(
    module: nn.Module,
    tensors: dict[str, torch.Tensor],
    *,
    ignore_prefixes: tuple[str, ...] = (),
    assign: bool = False,
) -> None:
    """Loads ``tensors`` into ``module``: every parameter must be present with its exact shape, and every
    tensor must be used (except those under ``ignore_prefixes``). ``assign``: the module's parameters become
    the given tensors (dtype and storage included) instead of a copy of them, for a module built on meta."""
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
    module.load_state_dict(wanted, strict=True, assign=assign)


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


def copy_out_of_mapping(module: nn.Module, keep: tuple[torch.Tensor, ...] = ()) -> None:
    """Gives every parameter and buffer of ``module`` (but ``keep``) memory of its own, releasing the
    checkpoint's file mapping. For weights about to be rewritten (fused projections): their new copies would
    otherwise sit beside the mapped pages they were read from, and those stay counted while any weight maps
    the file."""
    kept = {id(t) for t in keep}
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is not None and id(param) not in kept:
                own = param.detach().clone()
                sub._parameters[name] = nn.Parameter(own, requires_grad=param.requires_grad)
        for name, buffer in list(sub._buffers.items()):
            if buffer is not None and id(buffer) not in kept:
                sub._buffers[name] = buffer.clone()
