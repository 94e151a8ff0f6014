"""Loading: a missing, incomplete or mismatched checkpoint is a clear error naming the file or tensor."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from qwen_tts import CheckpointError, TTSEngine
from qwen_tts.config import ModelConfig
from qwen_tts.loading import read_weights, resolve_model_dir


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
