"""The aligner goldens' manifest: which sources built them, so stale goldens are rebuilt. Standard library
only (loaded by path from the test suite and from the reference venv)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO_ROOT / ".cache" / "parity-aligner"
CHECKPOINT_DIR = "checkpoint"  # under the goldens folder: the tiny aligner the goldens were computed on
MANIFEST_NAME = "MANIFEST.json"
FORMAT_VERSION = 1


def source_files() -> list[Path]:
    """This folder's Python and the tiny checkpoint's writer and specs (the checkpoint is an input)."""
    here = Path(__file__).resolve().parent
    return [
        *sorted(here.glob("*.py")),
        REPO_ROOT / "qwen_tts" / "aligner" / "tiny_checkpoint.py",
        *(REPO_ROOT / "qwen_tts" / f"tiny_{n}.py" for n in ("spec", "weights")),
    ]


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_current(out_dir: Path) -> bool:
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return (
        manifest.get("format_version") == FORMAT_VERSION
        and manifest.get("sources_sha256") == sources_digest()
    )


def write_manifest(out_dir: Path, payload: dict) -> None:
    body = {"format_version": FORMAT_VERSION, "sources_sha256": sources_digest(), **payload}
    (Path(out_dir) / MANIFEST_NAME).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
