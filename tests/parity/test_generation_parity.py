"""Greedy synthesis on the tiny checkpoints equals the official package: identical codes, waveform within
1e-4.

The official outputs come from tools/parity/build_goldens.py (the official public API in its own venv);
on a mismatch, the golden's intermediates (talker.*, predictor.*, codec.*; tools/parity/README.md) show
which tensor first departs.
"""

from __future__ import annotations

import numpy as np
import pytest

from qwen_tts import SamplingParams, SynthesisRequest
from tests.parity.compare import assert_codes_equal, max_abs_error
from tests.parity.conftest import GENERATION_CASES

WAVEFORM_TOLERANCE = 1e-4


def request_for(golden, engine) -> SynthesisRequest:
    """The SynthesisRequest that asks our engine what the golden asked the official package."""
    asked = golden.inputs["request"]
    voice_clone = None
    if asked["voice_clone"] is not None:
        clone = asked["voice_clone"]
        voice_clone = engine.create_voice_clone_prompt(
            ref_audio=golden["ref_audio"],
            ref_sample_rate=clone["ref_sample_rate"],
            ref_text=clone["ref_text"],
            x_vector_only=clone["x_vector_only"],
        )
    sampling = asked["sampling"]
    return SynthesisRequest(
        text=asked["text"],
        language=asked["language"],
        speaker=asked["speaker"],
        instruct=asked["instruct"],
        voice_clone=voice_clone,
        sampling=SamplingParams(
            do_sample=sampling["do_sample"],
            subtalker_do_sample=sampling["subtalker_do_sample"],
            repetition_penalty=sampling["repetition_penalty"],
        ),
        max_new_frames=asked["max_new_frames"],
        min_new_frames=asked["min_new_frames"],
    )


@pytest.fixture(scope="module")
def synthesized(golden, engine_for):
    """Each case synthesized once by our engine (the tests below look at different parts of it)."""
    results = {}

    def run(name: str):
        if name not in results:
            case = golden(name)
            engine = engine_for(case.checkpoint)
            results[name] = (case, engine.synthesize(request_for(case, engine)))
        return results[name]

    return run


@pytest.mark.parametrize("name", GENERATION_CASES)
def test_codes_equal_official(name, synthesized):
    case, out = synthesized(name)
    assert_codes_equal(out.codes, case["codes"])


@pytest.mark.parametrize("name", GENERATION_CASES)
def test_waveform_matches_official(name, synthesized):
    case, out = synthesized(name)
    assert out.sample_rate == case.inputs["expect"]["sample_rate"] == 24000
    assert out.samples.dtype == np.float32
    error = max_abs_error(out.samples, case["waveform"])
    assert error <= WAVEFORM_TOLERANCE, f"waveform max abs error {error:.3g} > {WAVEFORM_TOLERANCE}"


@pytest.mark.parametrize("name", GENERATION_CASES)
def test_end_of_speech_matches_official(name, synthesized):
    """Ended by EOS exactly when the official run did (min_new_frames=2 held EOS off in the early-EOS one)."""
    case, out = synthesized(name)
    assert out.finished == case.inputs["expect"]["ended_with_eos"]


def test_early_eos_case_exercises_min_new_frames(golden):
    """The goldens themselves: EOS tops the first step, so the official output is exactly 2 frames."""
    expect = golden("customvoice_early_eos").inputs["expect"]
    assert expect["ended_with_eos"] and expect["num_frames"] == 2


@pytest.mark.parametrize(
    ("name", "honoured"),
    [("customvoice_instruct_dropped", False), ("customvoice_instruct", True), ("voicedesign", True)],
)
def test_instruct_reported_when_dropped(name, honoured, synthesized):
    """Where the official code silently drops instruct (0.6B CustomVoice), our result says so."""
    case, out = synthesized(name)
    assert case.inputs["expect"]["instruct_honoured"] == honoured
    assert ("instruct" in out.ignored) == (not honoured)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("customvoice_speaker", {"speaker": "Ryan"}),
        ("customvoice_speaker", {"language": "auto"}),
        ("voicedesign", {"instruct": "A slow voice."}),
    ],
)
def test_the_comparison_notices_a_different_prompt(name, change, golden, engine_for):
    """The tiny models are sensitive enough for parity to mean something: a request that differs in one
    field from the golden's yields different codes, so a prompt-construction bug cannot pass unseen."""
    from dataclasses import replace

    case = golden(name)
    engine = engine_for(case.checkpoint)
    out = engine.synthesize(replace(request_for(case, engine), **change))
    assert not np.array_equal(out.codes, case["codes"])
