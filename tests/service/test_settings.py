"""Settings: the original config.yaml keys are honoured or rejected by name; env and overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import SettingsError, load_settings

ORIGINAL_CONFIG = """\
default_model: 0.6B-Base
models:
  0.6B-Base: /models/base
  0.6B-CustomVoice: Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice
optimization:
  compile_mode: max-autotune
  use_cuda_graphs: true
  streaming:
    emit_every_frames: 24
"""


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return {"TTS_CONFIG": str(path)}


def test_original_config_keys_are_honoured(tmp_path: Path) -> None:
    settings = load_settings(env=_config(tmp_path, ORIGINAL_CONFIG))
    assert settings.default_model == "0.6B-Base"
    assert settings.models == {
        "0.6B-Base": "/models/base",
        "0.6B-CustomVoice": "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice",
    }
    assert settings.optimization.compile_mode == "max-autotune"
    assert settings.optimization.use_cuda_graphs is True
    assert settings.optimization.streaming.emit_every_frames == 24
    assert settings.port == 8880


def test_a_retired_ffmpeg_key_still_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Configs written for the ffmpeg-subprocess encoder name its binary; audio is in process now."""
    with caplog.at_level("WARNING", logger="common.settings"):
        settings = load_settings(env=_config(tmp_path, ORIGINAL_CONFIG + "ffmpeg: /usr/bin/ffmpeg\n"))
    assert settings.default_model == "0.6B-Base" and not hasattr(settings, "ffmpeg")
    assert "'ffmpeg' is no longer used" in caplog.text


def test_environment_beats_the_file_and_overrides_beat_both(tmp_path: Path) -> None:
    env = _config(tmp_path, ORIGINAL_CONFIG) | {
        "QWEN_TTS_PORT": "9000",
        "QWEN_TTS_OPTIMIZATION__USE_CUDA_GRAPHS": "false",
        "QWEN_TTS_DEFAULT_MODEL": "0.6B-CustomVoice",
    }
    settings = load_settings({"port": 9100}, env=env)
    assert settings.port == 9100
    assert settings.optimization.use_cuda_graphs is False
    assert settings.optimization.compile_mode == "max-autotune"  # untouched file value survives the merge
    assert settings.default_model == "0.6B-CustomVoice"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unknown_key: 1\n", "unknown_key: unknown key"),
        ("optimization:\n  warp_drive: true\n", "optimization.warp_drive: unknown key"),
        ("optimization:\n  streaming:\n    decode_window_frames: 72\n", "decode_window_frames is not used"),
        ("optimization:\n  compile_mode: fastest\n", "optimization.compile_mode"),
        ("default_model: 9B-Nothing\n", "'9B-Nothing' is not in the models map"),
        ("port: 99999\n", "port"),
        ("- a list\n", "must hold a mapping"),
        ("key: [unclosed\n", "cannot read config file"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env=_config(tmp_path, text))
    assert message in str(caught.value)


def test_unknown_environment_variable_is_rejected() -> None:
    with pytest.raises(SettingsError, match="colour: unknown key"):
        load_settings(env={"QWEN_TTS_COLOUR": "blue"})


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not a file"):
        load_settings(env={"TTS_CONFIG": str(tmp_path / "absent.yaml")})


def test_no_file_and_no_environment_gives_defaults() -> None:
    settings = load_settings(env={}, config_path=None)
    assert settings.port == 8880 and settings.default_model == "0.6B-CustomVoice"


def test_resident_models_bring_the_base_counterpart_unless_preload_is_set() -> None:
    from server.composition import resident_models

    assert resident_models(load_settings(env={})) == ["0.6B-CustomVoice", "0.6B-Base"]
    big = load_settings({"default_model": "1.7B-CustomVoice"}, env={})
    assert resident_models(big) == ["1.7B-CustomVoice", "1.7B-Base"]
    explicit = load_settings({"preload_models": ["1.7B-VoiceDesign"]}, env={})
    assert resident_models(explicit) == ["0.6B-CustomVoice", "1.7B-VoiceDesign"]
    assert resident_models(load_settings({"default_model": "0.6B-Base"}, env={})) == ["0.6B-Base"]


def test_settings_become_engine_options_and_size_the_caches(tmp_path: Path) -> None:
    import inspect

    from qwen_tts import TTSEngine
    from workers.engine_loading import engine_options

    accepted = set(inspect.signature(TTSEngine.__init__).parameters)
    settings = load_settings(env=_config(tmp_path, ORIGINAL_CONFIG), overrides={"max_frames_per_piece": 1000})
    options = engine_options(settings, accepted)
    assert options == {
        "compile_mode": "max-autotune",
        "use_cuda_graphs": True,
        "cpu_threads": "auto",
        "max_batch_size": 4,
        "emit_every_frames": 24,
        "default_max_new_frames": 1000,
        "max_seq_len": 1024 + 1000,  # optimization.max_prompt_len + max_frames_per_piece
    }
    with pytest.raises(SettingsError, match="max_batch_size"):
        engine_options(settings, accepted - {"max_batch_size"})


def test_the_server_binds_loopback_unless_told_otherwise() -> None:
    """Issue 19: with no API key an exposed server is open to the network; binding all interfaces is asked for
    (``--host 0.0.0.0``, as the images and compose files do)."""
    from common.settings import Settings

    assert Settings().host == "127.0.0.1"
    assert Settings(host="0.0.0.0").host == "0.0.0.0"
