#!/usr/bin/env bash
# (Re)create the aligner's reference virtualenv with the official qwen-asr package, idempotently.
#
#   tools/parity/setup_asr_venv.sh            # default location .cache/qasr-venv (under the repository)
#   QASR_VENV=/tmp/qasr tools/parity/setup_asr_venv.sh
#
# qwen-asr pins transformers 4.57.6 (qwen-tts pins 4.57.3), so it cannot share the TTS reference venv.
# Installed without its dependencies: the aligner's model classes need only torch, transformers and
# librosa/soundfile; nagisa and soynlp (Japanese and Korean word splitting) and the gradio/flask/vLLM
# front ends are not installed, and aligner/build_goldens.py stubs nagisa (it is imported at module level).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${QASR_VENV:-$ROOT/.cache/qasr-venv}"
PINNED=(torch==2.13.0 transformers==4.57.6 accelerate==1.12.0 librosa soundfile)
OFFICIAL="qwen-asr==0.0.6"

LABEL="aligner reference venv"

# shellcheck source=tools/parity/_make_venv.sh
source "$ROOT/tools/parity/_make_venv.sh"
