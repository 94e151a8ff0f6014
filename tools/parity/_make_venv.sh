# Sourced by setup_venv.sh and setup_asr_venv.sh: (re)creates a reference virtualenv, idempotently.
# The caller sets VENV (its folder), LABEL (for messages), PINNED (pip requirements installed with their
# dependencies: "name==version" pins are checked, bare names only for presence) and OFFICIAL (the official
# package, "name==version", installed --no-deps); PYTHON (default python3) makes the venv.
PYTHON="${PYTHON:-python3}"

is_ready() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$OFFICIAL" "${PINNED[@]}" <<'PY' 2>/dev/null
import importlib.metadata as md
import sys
for requirement in sys.argv[1:]:
    name, _, version = requirement.partition("==")
    installed = md.version(name)
    if version:
        assert installed.split("+")[0] == version, requirement
PY
}

if is_ready; then
    echo "$LABEL ready: $VENV"
    exit 0
fi

echo "creating $LABEL: $VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# CPU wheels of torch are enough for the goldens (fp32 on CPU); honour a caller's index if set.
"$VENV/bin/python" -m pip install --quiet ${PIP_TORCH_INDEX:+--extra-index-url "$PIP_TORCH_INDEX"} "${PINNED[@]}"
"$VENV/bin/python" -m pip install --quiet --no-deps "$OFFICIAL"

if ! is_ready; then
    echo "$LABEL at $VENV is incomplete after installation" >&2
    exit 1
fi
echo "$LABEL ready: $VENV"
