"""Comparisons against the official goldens, with messages that say where to look."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

ENCODER_STAGE_TOLERANCE = 1e-4


def max_abs_error(actual: np.ndarray, expected: np.ndarray) -> float:
    assert actual.shape == expected.shape, f"shape {actual.shape} != official {expected.shape}"
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)), initial=0.0))


def assert_codes_equal(actual: np.ndarray, expected: np.ndarray, what: str = "codes") -> None:
    """Exact equality, reporting the first differing frame (where to start reading the intermediates)."""
    assert actual.dtype == np.int64, f"{what}: dtype {actual.dtype}, expected int64"
    if actual.shape == expected.shape and np.array_equal(actual, expected):
        return
    frames = min(len(actual), len(expected))
    differing = np.flatnonzero((actual[:frames] != expected[:frames]).any(axis=-1))
    first = int(differing[0]) if len(differing) else frames
    pytest.fail(
        f"{what} differ from the official package: shape {actual.shape} vs {expected.shape}; first differing "
        f"frame {first}: ours {actual[first].tolist() if first < len(actual) else None}, "
        f"official {expected[first].tolist() if first < len(expected) else None}"
    )


@contextmanager
def recorded_encoder_stages(engine) -> Iterator[dict[str, np.ndarray]]:
    """Our codec encoder's stage outputs while the block runs, under the goldens' names: ``mimi.encoder``
    [1, hidden, 25 Hz steps], ``mimi.encoder_transformer`` [1, steps, hidden], ``mimi.downsample``
    [1, hidden, 12.5 Hz frames]."""
    encoder = engine.codec.load_encoder()  # read now if the engine left it for the first encode
    stages: dict[str, np.ndarray] = {}
    parts = {
        "mimi.encoder": encoder.seanet,
        "mimi.encoder_transformer": encoder.transformer,
        "mimi.downsample": encoder.downsample,
    }

    def keeper(name: str):
        def keep(_module, _inputs, output) -> None:  # returns None: the output stays as it is
            stages.setdefault(name, output.float().numpy())

        return keep

    hooks = [module.register_forward_hook(keeper(name)) for name, module in parts.items()]
    try:
        yield stages
    finally:
        for hook in hooks:
            hook.remove()


def assert_encoder_stages_match(stages: dict[str, np.ndarray], case) -> None:
    """Each recorded stage within ENCODER_STAGE_TOLERANCE of the golden; names the first step off."""
    assert set(stages) == {"mimi.encoder", "mimi.encoder_transformer", "mimi.downsample"}
    for name, ours in stages.items():
        error = max_abs_error(ours, case[name])
        if error > ENCODER_STAGE_TOLERANCE:
            time_axis = 1 if name == "mimi.encoder_transformer" else 2
            per_step = np.abs(ours - case[name]).max(axis=tuple(a for a in range(3) if a != time_axis))
            first = int(np.flatnonzero(per_step > ENCODER_STAGE_TOLERANCE)[0])
            pytest.fail(f"{name}: max abs error {error:.3g}, first step off: {first} of {len(per_step)}")
