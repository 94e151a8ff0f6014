"""Architecture boundaries: the web layer never imports torch or the engine; nothing reads env at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import web.app, web.speech, web.audio_response, web.store_adapters
import workers.embedded, common.settings, server.cli, server.composition
leaked = sorted(m for m in ("torch", "qwen_tts", "transformers") if m in sys.modules)
print(",".join(leaked))
"""


def test_web_and_the_embedded_dispatcher_import_without_torch_or_the_engine() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"imported by the web layer: {result.stdout.strip()}"


def test_no_web_module_imports_torch_or_the_engine_lazily_either() -> None:
    for path in (ROOT / "web").rglob("*.py"):
        source = path.read_text()
        for forbidden in (
            "import torch",
            "from torch",
            "import qwen_tts",
            "from qwen_tts",
            "import transformers",
        ):
            assert forbidden not in source, f"{path.relative_to(ROOT)} contains {forbidden!r}"
