"""The 12 Hz codec equals the official one: decode of fixed codes (up to 300 frames, where the official
windowed decode is exact) within 1e-4, and encode of a fixed waveform (24 kHz, 16 kHz) to identical codes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.parity.compare import assert_codes_equal, max_abs_error
from tests.parity.conftest import CODEC_DECODE_CASES, CODEC_ENCODE_CASES

WAVEFORM_TOLERANCE = 1e-4


@pytest.mark.parametrize("name", CODEC_DECODE_CASES)
def test_decode_matches_official(name, golden, engine_for):
    case = golden(name)
    samples = engine_for(case.checkpoint).codec_decode(case["codes"])
    assert samples.dtype == np.float32
    assert len(samples) == case.inputs["expect"]["num_samples"] == len(case["codes"]) * 1920
    error = max_abs_error(samples, case["waveform"])
    assert error <= WAVEFORM_TOLERANCE, f"decoded waveform max abs error {error:.3g}"


@pytest.mark.parametrize("name", CODEC_ENCODE_CASES)
def test_encode_matches_official(name, golden, engine_for):
    case = golden(name)
    codes = engine_for(case.checkpoint).codec_encode(case["ref_audio"], case.inputs["request"]["sample_rate"])
    assert_codes_equal(codes, case["codes"])
