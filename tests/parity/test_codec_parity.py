"""The 12 Hz codec equals the official one: decode of fixed codes (up to 300 frames, where the official
windowed decode is exact) within 1e-4, and encode of a fixed waveform (24 kHz, 16 kHz resampled; 1.6 s, 4 s,
and 12 s, past the encoder transformer's sliding window) to identical codes, its stages within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

from tests.parity.compare import (
    assert_codes_equal,
    assert_encoder_stages_match,
    max_abs_error,
    recorded_encoder_stages,
)
from tests.parity.conftest import CODEC_DECODE_CASES, CODEC_ENCODE_CASES, PAST_ENCODER_WINDOW_CASES

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
    engine = engine_for(case.checkpoint)
    with recorded_encoder_stages(engine) as stages:
        codes = engine.codec_encode(case["ref_audio"], case.inputs["request"]["sample_rate"])
    assert_codes_equal(codes, case["codes"])
    assert_encoder_stages_match(stages, case)


@pytest.mark.parametrize("name", PAST_ENCODER_WINDOW_CASES)
def test_long_cases_pass_the_encoder_sliding_window(name, golden, engine_for):
    """The long cases stay meaningful: more encoder-transformer steps than the checkpoint's sliding_window
    (which the official encode does not apply, and transformers 5's Mimi would)."""
    case = golden(name)
    window = engine_for(case.checkpoint).codec.config.encoder.sliding_window
    assert case["mimi.encoder_transformer"].shape[1] > window
