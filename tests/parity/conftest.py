"""Parity goldens for tests/parity: found in .cache/parity, or (re)built with the reference venv.

When the goldens are missing or stale, this runs tools/parity/setup_venv.sh (if the venv is absent) and
tools/parity/build_goldens.py. When that is impossible the parity tests FAIL under CI=true and skip locally,
with the reason.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PARITY_TOOLS = REPO_ROOT / "tools" / "parity"
SETUP_TIMEOUT_S = 1200
BUILD_TIMEOUT_S = 900

# Every case build_goldens.py writes (checked against MANIFEST.json by test_goldens_manifest.py).
GENERATION_CASES = (
    "customvoice_speaker",
    "customvoice_speaker_auto",
    "customvoice_instruct_dropped",
    "customvoice_instruct",
    "customvoice_dialect_auto",
    "customvoice_dialect_chinese",
    "voicedesign",
    "voicedesign_auto",
    "base_icl",
    "base_icl_16k",
    "base_xvector",
    "customvoice_early_eos",
)
CLONE_PROMPT_CASES = (
    "clone_prompt_24k",
    "clone_prompt_16k",
    "clone_prompt_44k",
    "clone_prompt_16k_4s",
    "clone_prompt_24k_12s",  # past the Mimi encoder's sliding window (10 s)
)
CODEC_DECODE_CASES = ("codec_decode_9", "codec_decode_300")
CODEC_ENCODE_CASES = (
    "codec_encode_24k",
    "codec_encode_16k",
    "codec_encode_24k_4s",
    "codec_encode_16k_4s",
    "codec_encode_24k_12s",  # past the Mimi encoder's sliding window (10 s)
)
PAST_ENCODER_WINDOW_CASES = ("clone_prompt_24k_12s", "codec_encode_24k_12s")
ALL_CASES = GENERATION_CASES + CLONE_PROMPT_CASES + CODEC_DECODE_CASES + CODEC_ENCODE_CASES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The first parity test may (re)build the reference venv and the goldens in its fixture setup: give the
    tests here room beyond the suite's default per-test timeout."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT_S + BUILD_TIMEOUT_S + 300))


def _tools_module(relative: str) -> ModuleType:
    """A standard-library-only module under tools/parity, loaded by path (``"aligner/manifest.py"``)."""
    name = "parity_" + relative.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, PARITY_TOOLS / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest_module() -> ModuleType:
    return _tools_module("manifest.py")


def _must_not_skip() -> bool:
    """CI=true (or the suite-wide QTTS_REQUIRE_SERVICES=1) turns unavailable goldens into a failure."""
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or os.environ.get("QTTS_REQUIRE_SERVICES") == "1"


def _venv_python(env_var: str, default_name: str) -> Path:
    """The Python of a reference venv: $env_var, else .cache/default_name (where tools/parity makes it)."""
    return Path(os.environ.get(env_var, REPO_ROOT / ".cache" / default_name)) / "bin" / "python"


@contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    """One builder at a time (several test sessions may share a checkout)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f"{out_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(command: list[str], timeout_s: int) -> str | None:
    """Runs a build step; returns None on success, else why it failed."""
    env = {**os.environ, "PIP_DEFAULT_TIMEOUT": os.environ.get("PIP_DEFAULT_TIMEOUT", "30")}
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"{' '.join(command)} timed out after {timeout_s} s"
    except OSError as e:
        return f"{' '.join(command)} could not start: {e}"
    if done.returncode != 0:
        return f"{' '.join(command)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
    return None


def _ensure_built(
    out_dir: Path,
    manifest: ModuleType,
    python: Path,
    setup: str,
    builder: str,
    what: str,
    prepare: Callable[[], object] | None = None,
) -> str | None:
    """Makes out_dir hold current goldens (``manifest.is_current``): if not, makes the venv of ``python`` with
    tools/parity/``setup`` where it is missing, runs ``prepare`` and then tools/parity/``builder --out
    out_dir`` on it. Returns None when they are current, else the reason they cannot be."""
    if manifest.is_current(out_dir):
        return None
    with _build_lock(out_dir):
        if manifest.is_current(out_dir):  # another session built them while we waited
            return None
        if not python.exists():
            failure = _run(["bash", str(PARITY_TOOLS / setup)], SETUP_TIMEOUT_S)
            if failure is not None:
                return f"the {what} reference venv ({python.parent.parent}) cannot be made: {failure}"
        if prepare is not None:
            prepare()
        failure = _run([str(python), str(PARITY_TOOLS / builder), "--out", str(out_dir)], BUILD_TIMEOUT_S)
        if failure is not None:
            return f"building the {what} goldens failed: {failure}"
    if not manifest.is_current(out_dir):
        return f"{builder} finished but {out_dir} is not current"
    return None


def _ensure_goldens(out_dir: Path) -> str | None:
    """The TTS goldens: the official qwen-tts package (tools/parity/setup_venv.sh) computes them."""
    python = _venv_python("QREF_VENV", "qref-venv")
    return _ensure_built(out_dir, _manifest_module(), python, "setup_venv.sh", "build_goldens.py", "parity")


@pytest.fixture(scope="session")
def goldens_dir() -> Path:
    out_dir = _manifest_module().DEFAULT_OUT
    _require(_ensure_goldens(out_dir), "parity goldens")
    return out_dir


def _ensure_aligner_goldens(out_dir: Path) -> str | None:
    """The forced aligner's: our writer makes the tiny checkpoint, the official qwen-asr package (its own
    venv: tools/parity/setup_asr_venv.sh) computes the goldens on it."""
    from qwen_tts.aligner.tiny_checkpoint import write_tiny_aligner

    manifest = _tools_module("aligner/manifest.py")
    python = _venv_python("QASR_VENV", "qasr-venv")
    return _ensure_built(
        out_dir,
        manifest,
        python,
        "setup_asr_venv.sh",
        "aligner/build_goldens.py",
        "aligner",
        prepare=lambda: write_tiny_aligner(out_dir / manifest.CHECKPOINT_DIR),
    )


@pytest.fixture(scope="session")
def aligner_goldens_dir() -> Path:
    out_dir = _tools_module("aligner/manifest.py").DEFAULT_OUT
    _require(_ensure_aligner_goldens(out_dir), "aligner parity goldens")
    return out_dir


def _require(reason: str | None, what: str) -> None:
    """Fails (under CI) or skips (locally) with ``reason`` when there is one."""
    if reason is None:
        return
    if _must_not_skip():
        pytest.fail(f"{what} unavailable: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")


@dataclass(frozen=True)
class Golden:
    name: str
    inputs: dict[str, Any]
    tensors: dict[str, np.ndarray]
    checkpoint: Path

    def __getitem__(self, tensor_name: str) -> np.ndarray:
        return self.tensors[tensor_name]


@pytest.fixture(scope="session")
def golden(goldens_dir: Path) -> Callable[[str], Golden]:
    from safetensors.numpy import load_file

    cache: dict[str, Golden] = {}

    def load(name: str) -> Golden:
        if name not in cache:
            case_dir = goldens_dir / name
            inputs = json.loads((case_dir / "inputs.json").read_text(encoding="utf-8"))
            tensors = load_file(str(case_dir / "tensors.safetensors"))
            cache[name] = Golden(name, inputs, tensors, goldens_dir / inputs["checkpoint"])
        return cache[name]

    return load


@pytest.fixture(scope="session")
def engine_for() -> Callable[[Path], Any]:
    """Our engine on a golden checkpoint (fp32, CPU), loaded once per session."""
    from qwen_tts import TTSEngine

    engines: dict[Path, Any] = {}

    def load(checkpoint: Path) -> Any:
        if checkpoint not in engines:
            engines[checkpoint] = TTSEngine.from_pretrained(checkpoint, device="cpu", dtype="float32")
        return engines[checkpoint]

    return load
