"""The official package's virtualenv (tools/parity/setup_venv.sh), for tests that compare against it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PARITY_TOOLS = REPO_ROOT / "tools" / "parity"
"""On a reference script's ``sys.path``: its ``reference`` module imports the official package."""


def reference_python() -> Path:
    """The reference interpreter; a test needing it is skipped where it is missing (fails on CI)."""
    venv = Path(os.environ.get("QREF_VENV", REPO_ROOT / ".cache" / "qref-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference virtualenv missing at {venv} (tools/parity/setup_venv.sh creates it)")
        pytest.skip(f"reference virtualenv missing at {venv}")
    return python


def run_reference(script: str, *args: str | Path, cwd: Path, timeout_s: float) -> None:
    """Run ``script`` with ``args`` on the reference interpreter, in ``cwd`` (never the repository root, whose
    ``qwen_tts`` would shadow the official package)."""
    command = [str(reference_python()), "-c", script, *map(str, args)]
    subprocess.run(command, check=True, cwd=cwd, timeout=timeout_s)
