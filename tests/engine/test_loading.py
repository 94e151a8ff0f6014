"""Loading: a missing, incomplete or mismatched checkpoint is a clear error naming the file or tensor; a good
one is assigned from its file mapping (no random initialisation, no copy), the text table kept as stored."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from qwen_tts import CheckpointError, SynthesisRequest, TTSEngine
from qwen_tts.config import ModelConfig
from qwen_tts.loading import TEXT_EMBEDDING, build_model, load_weights, read_weights, resolve_model_dir
from qwen_tts.model import TTSModel
from qwen_tts.speaker_encoder import SpeakerEncoder

SMAPS = Path("/proc/self/smaps")
needs_smaps = pytest.mark.skipif(not SMAPS.is_file(), reason="needs Linux /proc/self/smaps")


@pytest.fixture
def checkpoint_copy(tiny_checkpoint, tmp_path):
    source = tiny_checkpoint("custom_voice")
    target = tmp_path / "model"
    shutil.copytree(source, target)
    return target


def _edit_weights(directory, edit) -> None:
    tensors = load_file(str(directory / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(directory / "model.safetensors"))


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        TTSEngine.from_pretrained(tmp_path / "nowhere")


def test_incomplete_directory(checkpoint_copy):
    (checkpoint_copy / "speech_tokenizer" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"missing speech_tokenizer/config\.json"):
        TTSEngine.from_pretrained(checkpoint_copy)


def test_missing_tensor_is_named(checkpoint_copy):
    _edit_weights(checkpoint_copy, lambda t: t.pop("talker.model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(
        CheckpointError, match=r"lacks 1 tensor.*talker\.transformer\.layers\.1\.mlp\.up_proj"
    ):
        TTSEngine.from_pretrained(checkpoint_copy)


def test_unexpected_tensor_is_named(checkpoint_copy):
    _edit_weights(checkpoint_copy, lambda t: t.update({"talker.surprise.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensor.*talker\.surprise\.weight"):
        TTSEngine.from_pretrained(checkpoint_copy)


def test_shape_mismatch_is_named(checkpoint_copy):
    def shrink(tensors):
        tensors["talker.codec_head.weight"] = tensors["talker.codec_head.weight"][:-1]

    _edit_weights(checkpoint_copy, shrink)
    with pytest.raises(CheckpointError, match=r"talker\.codec_head\.weight has shape \(3071, 64\)"):
        TTSEngine.from_pretrained(checkpoint_copy)


def test_sharded_weights_load_like_a_single_file(checkpoint_copy):
    single = read_weights(checkpoint_copy)
    tensors = load_file(str(checkpoint_copy / "model.safetensors"))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for shard, shard_names in shards.items():
        save_file({n: tensors[n] for n in shard_names}, str(checkpoint_copy / shard))
        weight_map.update(dict.fromkeys(shard_names, shard))
    (checkpoint_copy / "model.safetensors").unlink()
    (checkpoint_copy / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    sharded = read_weights(checkpoint_copy)
    assert sharded.keys() == single.keys()
    assert all(torch.equal(sharded[n], single[n]) for n in single)
    TTSEngine.from_pretrained(checkpoint_copy)  # loads


def test_missing_shard_is_named(checkpoint_copy):
    weight_map = {"talker.codec_head.weight": "model-00009.safetensors"}
    (checkpoint_copy / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (checkpoint_copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model-00009\.safetensors"):
        read_weights(checkpoint_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.update(tts_model_type="karaoke"), "tts_model_type"),
        (lambda c: c["talker_config"].pop("num_code_groups"), "num_code_groups"),
        (lambda c: c["talker_config"]["rope_scaling"].pop("mrope_section"), "mrope_section"),
        (lambda c: c["talker_config"].update(hidden_act="gelu"), "hidden_act"),
        (lambda c: c["talker_config"]["spk_id"].update(ghost=99999), "ghost"),
        (lambda c: c["talker_config"].update(num_key_value_heads=3), "num_kv_heads 3"),
    ],
)
def test_bad_config_is_named(checkpoint_copy, edit, match):
    raw = json.loads((checkpoint_copy / "config.json").read_text())
    edit(raw)
    with pytest.raises(CheckpointError, match=match):
        ModelConfig.from_dict(raw)


def test_unreachable_hub_fails_fast(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="cannot be reached"):
        resolve_model_dir("Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice")
    assert time.monotonic() - start < 10


# ---- meta construction, assignment from the file mapping ---------------------------------------------------
def _copy_in_model(model_dir: Path) -> TTSModel:
    """The loading build_model replaced: random initialisation, then a copy of every checkpoint tensor."""
    config = ModelConfig.from_file(model_dir / "config.json")
    speaker_encoder = SpeakerEncoder(config.speaker_encoder) if config.tts_model_type == "base" else None
    model = TTSModel(config, speaker_encoder)
    ignored = () if speaker_encoder else ("speaker_encoder.",)
    load_weights(model, read_weights(model_dir), ignore_prefixes=ignored)
    return model


def _built_model(model_dir: Path) -> TTSModel:
    return build_model(model_dir, ModelConfig.from_file(model_dir / "config.json"), "cpu", torch.float32)


def _as_released(directory: Path, text_vocab_size: int | None = None) -> None:
    """Stores every tensor in bfloat16, as the released checkpoints do; ``text_vocab_size`` grows the text
    table with random rows (the tokenizer never reaches them), to the released vocabulary's size say."""
    tensors = load_file(str(directory / "model.safetensors"))
    if text_vocab_size is not None:
        name = "talker.model.text_embedding.weight"
        table = tensors[name]
        extra = torch.randn(text_vocab_size - table.shape[0], table.shape[1], generator=torch.Generator())
        tensors[name] = torch.cat([table, 0.1 * extra])
        config = json.loads((directory / "config.json").read_text())
        config["talker_config"]["text_vocab_size"] = text_vocab_size
        (directory / "config.json").write_text(json.dumps(config))
    save_file(
        {name: t.to(torch.bfloat16) for name, t in tensors.items()}, str(directory / "model.safetensors")
    )


def _file_mappings(path: Path) -> list[tuple[int, int, int]]:
    """(start, end, resident bytes) of each of this process's mappings of ``path``."""
    mappings, current = [], None
    for line in SMAPS.read_text().splitlines():
        fields = line.split(maxsplit=5)  # a header: range, perms, offset, device, inode[, path]
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            current = (start, end) if len(fields) == 6 and fields[5] == str(path.resolve()) else None
        elif current and fields[0] == "Rss:":
            mappings.append((*current, int(fields[1]) * 1024))
    return mappings


def _is_mapped_from(tensor: torch.Tensor, path: Path) -> bool:
    return any(start <= tensor.data_ptr() < end for start, end, _ in _file_mappings(path))


def _codes(engine: TTSEngine, model: TTSModel) -> np.ndarray:
    """One short synthesis with ``model`` in place of the engine's own."""
    twin = TTSEngine(model, engine.tokenizer, engine.codec, engine.sampling_defaults, max_seq_len=512)
    request = SynthesisRequest(
        text="Hello world", speaker="vivian", seed=11, max_new_frames=4, min_new_frames=4
    )
    return twin.synthesize(request).codes


@pytest.mark.parametrize("name", ["custom_voice", "custom_voice_1b7", "base"])
def test_built_model_equals_the_copy_in_load(tiny_checkpoint, name):
    built, copied = _built_model(tiny_checkpoint(name)), _copy_in_model(tiny_checkpoint(name))
    assert not [n for n, t in [*built.named_parameters(), *built.named_buffers()] if t.is_meta]
    # named_buffers: the non-persistent rotary buffers too, which build_model computes after the meta build
    ours = dict(built.named_parameters()) | dict(built.named_buffers())
    theirs = dict(copied.named_parameters()) | dict(copied.named_buffers())
    assert ours.keys() == theirs.keys()
    unequal = [n for n in ours if ours[n].dtype != theirs[n].dtype or not torch.equal(ours[n], theirs[n])]
    assert not unequal


def test_released_dtype_checkpoint_keeps_its_text_table_mapped(checkpoint_copy, tiny_engine):
    _as_released(checkpoint_copy)
    built, copied = _built_model(checkpoint_copy), _copy_in_model(checkpoint_copy)
    table = built.talker.text_embedding.weight
    assert table.dtype == torch.bfloat16 and table.device.type == "cpu"
    if SMAPS.is_file():
        assert _is_mapped_from(table, checkpoint_copy / "model.safetensors")
    ours, theirs = built.state_dict(), copied.state_dict()
    assert all(ours[n].dtype == torch.float32 for n in ours if n != TEXT_EMBEDDING)
    assert all(torch.equal(ours[n].float(), theirs[n]) for n in ours)  # bf16 -> fp32 is exact
    engine = tiny_engine("custom_voice")
    assert np.array_equal(_codes(engine, built), _codes(engine, copied))


@needs_smaps
def test_weights_already_in_the_dtype_are_not_copied(checkpoint_copy):
    built = _built_model(checkpoint_copy)  # a float32 checkpoint, loaded as float32
    weights = checkpoint_copy / "model.safetensors"
    assert all(_is_mapped_from(t, weights) for t in built.parameters())


@needs_smaps
def test_unread_text_rows_never_become_resident(checkpoint_copy):
    _as_released(checkpoint_copy, text_vocab_size=262144)  # a 50 MB table; the other tensors take 9 MB
    weights = checkpoint_copy / "model.safetensors"
    built = _built_model(checkpoint_copy)
    table = built.talker.text_embedding.weight
    table_bytes = table.numel() * table.element_size()
    others_bytes = weights.stat().st_size - table_bytes
    # One mapping is left, the table's own: the converted tensors' pages went with theirs (had they shared
    # the table's, all of them would stay resident), and the table's pages are not read by loading.
    mappings = _file_mappings(weights)
    assert len(mappings) == 1 and mappings[0][1] - mappings[0][0] >= weights.stat().st_size
    assert mappings[0][2] < others_bytes / 2
    built.talker.embed_text(torch.tensor([[1, 2, 3, 200000]]))
    assert _file_mappings(weights)[0][2] < table_bytes / 4  # the pages of a prompt's rows only


@needs_smaps
def test_the_engine_keeps_only_the_text_table_mapped(checkpoint_copy):
    """from_pretrained on CPU: the fused projections are new memory, so every other weight leaves the file
    mapping too (else the pages read while fusing would stay resident beside the copies); the table stays."""
    engine = TTSEngine.from_pretrained(checkpoint_copy, max_seq_len=64)  # a float32 checkpoint
    weights = checkpoint_copy / "model.safetensors"
    talker = engine.model.talker
    assert _is_mapped_from(talker.text_embedding.weight, weights)
    others = [t for n, t in engine.model.named_parameters() if n != TEXT_EMBEDDING]
    assert not any(_is_mapped_from(t, weights) for t in others)
    assert len(_file_mappings(weights)) == 1
    assert talker.transformer.layers[0].self_attn.qkv_weight is not None  # fused
