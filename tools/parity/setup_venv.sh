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
PINNED=(torch==2.13.0 transformers==4.57.3 accelerate==1.12.0 librosa soundfile einops)
OFFICIAL="qwen-tts==0.1.1"

LABEL="reference venv"

# shellcheck source=tools/parity/_make_venv.sh
source "$ROOT/tools/parity/_make_venv.sh"
