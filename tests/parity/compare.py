"""Comparisons against the official goldens, with messages that say where to look."""

from __future__ import annotations

import numpy as np
import pytest


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
