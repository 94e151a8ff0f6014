"""The goldens on disk are the set these tests expect, built by the official package from current sources."""

from __future__ import annotations

import json

from tests.parity.conftest import ALL_CASES


def test_manifest_lists_every_case(goldens_dir):
    manifest = json.loads((goldens_dir / "MANIFEST.json").read_text())
    assert sorted(manifest["cases"]) == sorted(ALL_CASES)
    assert manifest["official_version"] == "0.1.1"


def test_every_checkpoint_has_the_released_layout(goldens_dir):
    manifest = json.loads((goldens_dir / "MANIFEST.json").read_text())
    required = (
        "config.json", "generation_config.json", "model.safetensors", "vocab.json", "merges.txt",
        "tokenizer.json", "tokenizer_config.json", "speech_tokenizer/config.json",
        "speech_tokenizer/preprocessor_config.json", "speech_tokenizer/model.safetensors",
    )  # fmt: skip
    for relative in manifest["checkpoints"].values():
        missing = [name for name in required if not (goldens_dir / relative / name).is_file()]
        assert not missing, f"{relative} lacks {missing}"
