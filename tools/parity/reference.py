"""Import the official qwen-tts package (in the reference venv) and our dependency-free tiny spec.

The official package imports its 25 Hz tokenizer eagerly, which pulls in `sox`, `onnxruntime` and
`torchaudio`. The 12 Hz models never touch them, so empty modules stand in for them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_SPEC_PATH = REPO_ROOT / "qwen_tts" / "tiny_spec.py"
TINY_WEIGHTS_PATH = REPO_ROOT / "qwen_tts" / "tiny_weights.py"
_STUBBED = ("sox", "onnxruntime", "torchaudio", "torchaudio.compliance", "torchaudio.compliance.kaldi")


def stub_unused_imports() -> None:
    for name in _STUBBED:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)  # probes call find_spec
            sys.modules[name] = module
    sys.modules["torchaudio"].compliance = sys.modules["torchaudio.compliance"]
    sys.modules["torchaudio.compliance"].kaldi = sys.modules["torchaudio.compliance.kaldi"]


def load_tiny_spec() -> types.SimpleNamespace:
    """qwen_tts/tiny_spec.py and tiny_weights.py, loaded by path (importing `qwen_tts` here would find the
    official package), as one namespace."""
    spec, weights = _load_by_path(TINY_SPEC_PATH), _load_by_path(TINY_WEIGHTS_PATH)
    return types.SimpleNamespace(**vars(spec), init_weights=weights.init_weights,
                                 calibrate_output_gain=weights.calibrate_output_gain)  # fmt: skip


def _load_by_path(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"parity_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_official() -> types.SimpleNamespace:
    """The official classes the goldens are built with."""
    stub_unused_imports()
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration, modeling_qwen3_tts

    import qwen_tts  # the official package: this script runs in the reference venv

    if not hasattr(qwen_tts, "Qwen3TTSModel"):
        raise ImportError(f"{qwen_tts.__file__} is not the official qwen-tts package")
    return types.SimpleNamespace(
        Qwen3TTSModel=qwen_tts.Qwen3TTSModel,
        Qwen3TTSTokenizer=qwen_tts.Qwen3TTSTokenizer,
        Qwen3TTSConfig=Qwen3TTSConfig,
        Qwen3TTSForConditionalGeneration=Qwen3TTSForConditionalGeneration,
        Qwen3TTSTokenizerV2Config=Qwen3TTSTokenizerV2Config,
        Qwen3TTSTokenizerV2Model=Qwen3TTSTokenizerV2Model,
        mel_spectrogram=modeling_qwen3_tts.mel_spectrogram,
        version=_version(),
    )


def _version() -> str:
    import importlib.metadata

    return importlib.metadata.version("qwen-tts")
