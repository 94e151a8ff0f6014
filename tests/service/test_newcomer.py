"""The first minutes of a newcomer: `qwen3-tts serve` without weights says how to get them (or --demo), `/`
leads to the web page, a device the machine lacks is one line and a non-zero exit (serve and worker), and
the schema-upgrade line appears only when a schema is upgraded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from workers.devices import device_problem

ROOT = Path(__file__).resolve().parents[2]
REPO_ID = "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"


def _run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``qwen3-tts ARGS`` as a user runs it: a fresh process, no config or QWEN_TTS_* of this machine."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_TTS_") and k != "TTS_CONFIG"}
    environment |= {"QWEN_TTS_DATA_DIR": str(home), "HOME": str(home), "HF_HUB_OFFLINE": "1"} | env
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_weights_name_the_hf_cli_and_the_demo(tmp_path: Path) -> None:
    result = _run(["serve", "--port", "1"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"hf download {REPO_ID} --local-dir" in last
    assert "huggingface-cli" not in result.stderr
    assert "qwen3-tts serve --demo" in last


def test_the_root_leads_to_the_web_page(base_url: str) -> None:
    response = httpx.get(f"{base_url}/", timeout=10)
    assert response.is_redirect and response.headers["location"] == "/ui"
    page = httpx.get(f"{base_url}/", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and page.url.path == "/ui"
    assert page.headers["content-type"].startswith("text/html")


def _missing_device() -> str:
    """``cuda`` where this machine has no CUDA; else a CUDA index it does not have."""
    return "cuda" if device_problem("cuda") else "cuda:99"


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (["serve", "--port", "1", "--demo"], {}),
        # the worker stops before it connects to its (unreachable) broker
        (["worker", "--models", "0.6B-CustomVoice"], {"QWEN_TTS_REDIS_URL": "redis://127.0.0.1:1/0"}),
    ],
    ids=["serve", "worker"],
)
def test_a_device_this_machine_lacks_is_one_line_and_a_failing_exit(
    tmp_path: Path, command: list[str], env: dict[str, str]
) -> None:
    device = _missing_device()
    result = _run([*command, "--device", device], tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"device {device!r} is not usable here" in lines[0] and "--device cpu" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_schema_upgrade_line_appears_only_when_the_schema_is_upgraded(tmp_path: Path) -> None:
    first = _run(["db", "upgrade"], tmp_path)
    assert first.returncode == 0 and "upgrading database schema from empty to" in first.stderr
    again = _run(["db", "upgrade"], tmp_path)
    assert again.returncode == 0 and "schema is at head" in again.stdout
    assert "upgrading database schema" not in again.stderr
