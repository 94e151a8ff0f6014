#!/usr/bin/env bash
# (Re)create the aligner's reference virtualenv with the official qwen-asr package, idempotently.
#
#   tools/parity/setup_asr_venv.sh            # default location .cache/qasr-venv (under the repository)
#   QASR_VENV=/tmp/qasr tools/parity/setup_asr_venv.sh
#
# qwen-asr pins transformers 4.57.6 (qwen-tts pins 4.57.3), so it cannot share the TTS reference venv.
# Installed without its dependencies: the aligner's model classes need only torch, transformers and
# librosa/soundfile; nagisa and soynlp (Japanese and Korean word splitting) and the gradio/flask/vLLM
# front ends are not installed, and build_aligner_goldens.py stubs nagisa (it is imported at module level).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${QASR_VENV:-$ROOT/.cache/qasr-venv}"
PYTHON="${PYTHON:-python3}"
PINNED=(torch==2.13.0 transformers==4.57.6 accelerate==1.12.0 librosa soundfile)
OFFICIAL="qwen-asr==0.0.6"

is_ready() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md
assert md.version("qwen-asr") == "0.0.6"
assert md.version("transformers") == "4.57.6"
assert md.version("torch").split("+")[0] == "2.13.0"
assert md.version("accelerate") == "1.12.0"
for name in ("librosa", "soundfile"):
    md.version(name)
PY
}

if is_ready; then
    echo "aligner reference venv ready: $VENV"
    exit 0
fi

echo "creating aligner reference venv: $VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# CPU wheels of torch are enough for the goldens (fp32 on CPU); honour a caller's index if set.
"$VENV/bin/python" -m pip install --quiet ${PIP_TORCH_INDEX:+--extra-index-url "$PIP_TORCH_INDEX"} "${PINNED[@]}"
"$VENV/bin/python" -m pip install --quiet --no-deps "$OFFICIAL"

if ! is_ready; then
    echo "aligner reference venv at $VENV is incomplete after installation" >&2
    exit 1
fi
echo "aligner reference venv ready: $VENV"
