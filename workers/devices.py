"""Is the configured device usable here? Asked before any model loads, so a wrong ``--device`` ends with one
line (``SettingsError``) instead of a traceback from deep inside a model load, or a worker whose children
crash and are replaced in a loop.

``check_device(device)`` asks in this process (``qwen3-tts serve``: the engine runs here anyway);
``isolated=True`` asks a short-lived child process, so this one never touches CUDA before it forks (a
Celery worker's parent, whose children load the models).
"""

from __future__ import annotations

import subprocess
import sys

from common.settings import SettingsError

PROBE_TIMEOUT_S = 300
_PROBE = "import sys; from workers.devices import device_problem; print(device_problem(sys.argv[1]) or '')"


def device_problem(device: str) -> str | None:
    """Why ``device`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) cannot be used, or None when it can."""
    kind, _, index = device.strip().lower().partition(":")
    if kind == "cpu":
        return None
    import torch

    if kind == "cuda":
        if not torch.backends.cuda.is_built() and not torch.version.hip:
            return f"this torch build ({torch.__version__}) has no CUDA support"
        count = torch.cuda.device_count()  # NVML when it can: does not initialize CUDA here
        if count == 0:
            return "no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)"
        if index and (not index.isdigit() or int(index) >= count):
            return f"there is no CUDA device {index!r} ({count} visible)"
        return None
    if kind == "mps":
        return None if torch.backends.mps.is_available() else "MPS is not available on this machine"
    return f"unknown device type {kind!r}"


def check_device(device: str, *, isolated: bool = False) -> None:
    """Raise ``SettingsError`` (one line) when ``device`` cannot be used; ``cpu`` costs nothing."""
    if device.strip().lower() == "cpu":
        return
    problem = _probe_in_child(device) if isolated else device_problem(device)
    if problem:
        raise SettingsError(f"device {device!r} is not usable here: {problem}; use --device cpu")


def _probe_in_child(device: str) -> str | None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, device],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"probing it failed: {last}"
    return result.stdout.strip() or None
