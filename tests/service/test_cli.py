"""``qwen3-tts``: keys create/list/revoke and db upgrade on a fresh data dir; clear startup errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, data_dir: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
    environment |= {"QWEN_TTS_DATA_DIR": str(data_dir), "HOME": str(data_dir), "HF_HUB_OFFLINE": "1"} | env
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_db_upgrade_creates_the_sqlite_schema(tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "qwen3-tts.sqlite3").is_file()
    assert run_cli("db", "upgrade", data_dir=tmp_path).returncode == 0  # idempotent


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    created = run_cli("keys", "create", "ci-bot", "--max-streams", "3", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    key_id, name = created.stdout.splitlines()[0].split("\t")
    token = created.stdout.splitlines()[1]
    assert name == "ci-bot" and token.startswith("qtts_")
    listed = run_cli("keys", "list", data_dir=tmp_path)
    assert key_id in listed.stdout and "streams=3" in listed.stdout and token not in listed.stdout
    assert run_cli("keys", "revoke", key_id, data_dir=tmp_path).returncode == 0
    assert key_id not in run_cli("keys", "list", data_dir=tmp_path).stdout
    missing = run_cli("keys", "revoke", "key_nope", data_dir=tmp_path)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_a_bad_config_key_stops_startup_with_its_name(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("optimization:\n  streaming:\n    decode_window_frames: 72\n")
    result = run_cli("serve", data_dir=tmp_path, TTS_CONFIG=str(config))
    assert result.returncode == 2
    assert "optimization.streaming.decode_window_frames" in result.stderr and "Traceback" not in result.stderr


def test_serving_weights_that_are_not_there_fails_fast_and_says_how_to_provide_them(tmp_path: Path) -> None:
    result = run_cli(
        "serve", "--model", str(tmp_path / "no-such-checkpoint"), "--port", "1", data_dir=tmp_path
    )
    assert result.returncode == 1
    assert "no-such-checkpoint" in result.stderr and "does not exist" in result.stderr
    offline = run_cli("serve", data_dir=tmp_path, QWEN_TTS_PORT="1")  # the default model, no hub reachable
    assert offline.returncode == 1 and "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice" in offline.stderr
