"""The quantize option's wiring: config.yaml ``optimization.quantize``, ``qwen3-tts serve --quantize`` and the
worker's ``--quantize`` all reach ``TTSEngine.from_pretrained(quantize=...)``; a bad value names the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from common.settings import SettingsError, load_settings


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return {"TTS_CONFIG": str(path)}


def test_config_key_becomes_the_engine_option(tmp_path: Path) -> None:
    import inspect

    from qwen_tts import TTSEngine
    from workers.engine_loading import engine_loader, engine_options

    accepted = {*inspect.signature(TTSEngine.__init__).parameters, "quantize"}
    settings = load_settings(env=_config(tmp_path, "optimization:\n  quantize: int8\n"))
    assert settings.optimization.quantize == "int8"
    assert engine_options(settings, accepted)["quantize"] == "int8"
    engine_loader(settings)  # from_pretrained's signature takes it: no error up front
    assert "quantize" not in engine_options(load_settings(env={}), accepted)  # default: full precision


def test_an_unknown_mode_is_rejected_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="quantize"):
        load_settings(env=_config(tmp_path, "optimization:\n  quantize: int3\n"))


def test_serve_flag_overrides_the_file(tmp_path: Path) -> None:
    from server.cli import _parser, _serve_overrides

    env = _config(tmp_path, "optimization:\n  max_batch_size: 8\n")
    base = load_settings(env=env)
    args = _parser().parse_args(["serve", "--quantize", "int8"])
    settings = load_settings(_serve_overrides(args, base), env=env)
    assert settings.optimization.quantize == "int8"
    assert settings.optimization.max_batch_size == 8  # the file's other keys stay


def test_worker_flag() -> None:
    from workers.worker_main import add_worker_arguments

    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    assert parser.parse_args(["--models", "a", "--quantize", "int8"]).quantize == "int8"
    with pytest.raises(SystemExit):
        parser.parse_args(["--models", "a", "--quantize", "int4"])
