#!/usr/bin/env bash
# (Re)create the reference virtualenv with the official qwen-tts package, idempotently.
#
#   tools/parity/setup_venv.sh            # default location .cache/qref-venv (under the repository)
#   QREF_VENV=/tmp/qref tools/parity/setup_venv.sh
#
# The official package installs as `qwen_tts` too, so it lives in its own virtualenv, never next to ours.
# Its 25 Hz-only imports (sox, onnxruntime, torchaudio) are not installed: build_goldens.py stubs them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${QREF_VENV:-$ROOT/.cache/qref-venv}"
PYTHON="${PYTHON:-python3}"
PINNED=(torch==2.13.0 transformers==4.57.3 accelerate==1.12.0 librosa soundfile einops)
OFFICIAL="qwen-tts==0.1.1"

is_ready() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md
assert md.version("qwen-tts") == "0.1.1"
assert md.version("transformers") == "4.57.3"
assert md.version("torch").split("+")[0] == "2.13.0"
assert md.version("accelerate") == "1.12.0"
for name in ("librosa", "soundfile", "einops"):
    md.version(name)
PY
}

if is_ready; then
    echo "reference venv ready: $VENV"
    exit 0
fi

echo "creating reference venv: $VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# CPU wheels of torch are enough for the goldens (fp32 on CPU); honour a caller's index if set.
"$VENV/bin/python" -m pip install --quiet ${PIP_TORCH_INDEX:+--extra-index-url "$PIP_TORCH_INDEX"} "${PINNED[@]}"
"$VENV/bin/python" -m pip install --quiet --no-deps "$OFFICIAL"

if ! is_ready; then
    echo "reference venv at $VENV is incomplete after installation" >&2
    exit 1
fi
echo "reference venv ready: $VENV"
