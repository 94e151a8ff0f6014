"""``qwen3-tts worker``: argument and settings errors are clear exits, never a worker that cannot serve."""

from __future__ import annotations

import pytest

from common.settings import SettingsError, load_settings
from server.cli import main as cli_main
from workers.celery_app import celery_config
from workers.worker_main import parse_models

DISTRIBUTED = {"QWEN_TTS_REDIS_URL": "redis://127.0.0.1:6379/15"}


def test_models_are_checked_against_the_models_map() -> None:
    settings = load_settings(env=DISTRIBUTED)
    assert parse_models(" 0.6B-CustomVoice, 0.6B-Base,0.6B-Base ", settings) == [
        "0.6B-CustomVoice",
        "0.6B-Base",
    ]
    with pytest.raises(SettingsError, match=r"unknown model.*nope"):
        parse_models("0.6B-Base,nope", settings)
    with pytest.raises(SettingsError, match="at least one"):
        parse_models(" , ", settings)


def test_the_cli_refuses_a_worker_without_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QWEN_TTS_REDIS_URL", raising=False)
    monkeypatch.setenv("TTS_CONFIG", "")
    assert cli_main(["worker", "--models", "0.6B-CustomVoice"]) == 2
    assert "needs redis_url" in capsys.readouterr().err


def test_the_cli_refuses_an_unknown_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QWEN_TTS_REDIS_URL", DISTRIBUTED["QWEN_TTS_REDIS_URL"])
    monkeypatch.setenv("TTS_CONFIG", "")
    assert cli_main(["worker", "--models", "9B-Imaginary"]) == 2
    assert "unknown model(s) 9B-Imaginary" in capsys.readouterr().err


def test_celery_reliability_settings() -> None:
    config = celery_config(load_settings(env=DISTRIBUTED | {"QWEN_TTS_DISTRIBUTED__KEY_NAMESPACE": "prod"}))
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"]
    assert config["task_soft_time_limit"] < config["task_time_limit"]
    assert config["worker_soft_shutdown_timeout"] > 0
    assert config["broker_transport_options"]["global_keyprefix"] == "prod:"
    assert config["worker_proc_alive_timeout"] >= 600, "model loading happens in worker_process_init"
