"""``qwen3-tts``: keys create/list/revoke and db upgrade on a fresh data dir; clear startup errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("QWEN_TTS_") or k == "TTS_CONFIG"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("QWEN_TTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/qwen3-tts/config.yaml of the machine leaks in
    return tmp_path


def test_db_upgrade_creates_the_sqlite_schema(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert (data_dir / "qwen3-tts.sqlite3").is_file() and "schema is at head" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0  # idempotent


def test_keys_create_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "ci-bot", "--max-streams", "3"]) == 0
    first_line, token, _ = capsys.readouterr().out.splitlines()
    key_id, name = first_line.split("\t")
    assert name == "ci-bot" and token.startswith("qtts_")
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "streams=3" in listed and token not in listed
    assert main(["keys", "revoke", key_id]) == 0
    main(["keys", "list"])
    assert key_id not in capsys.readouterr().out.replace(f"revoked {key_id}", "")
    assert main(["keys", "revoke", "key_nope"]) == 1
    assert "not found" in capsys.readouterr().err


def test_a_bad_config_key_stops_startup_with_its_name(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = data_dir / "config.yaml"
    config.write_text("optimization:\n  streaming:\n    decode_window_frames: 72\n")
    monkeypatch.setenv("TTS_CONFIG", str(config))
    assert main(["serve"]) == 2
    assert "optimization.streaming.decode_window_frames" in capsys.readouterr().err


def test_serving_weights_that_are_not_there_fails_fast_and_says_how_to_provide_them(tmp_path: Path) -> None:
    """As a user runs it: a fresh process, no hub reachable, the default model not in the cache."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
    environment |= {"QWEN_TTS_DATA_DIR": str(tmp_path), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice" in result.stderr and "Traceback" not in result.stderr
    assert "local directory" in result.stderr  # says how to provide the weights
