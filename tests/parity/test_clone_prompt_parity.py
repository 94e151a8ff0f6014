"""Voice-clone prompts equal the official ones: reference codes identical (the Mimi encoder's stages within
1e-4), speaker embedding within tolerance, for reference audio at 24 kHz and at rates that need resampling
(16 kHz, 44.1 kHz), 1.6 s to 12 s (past the encoder transformer's sliding window); and the front-ends they are
built from (resampling, mel spectrogram) match the official ones."""

from __future__ import annotations

import pytest
import torch

from tests.parity.compare import (
    assert_codes_equal,
    assert_encoder_stages_match,
    max_abs_error,
    recorded_encoder_stages,
)
from tests.parity.conftest import CLONE_PROMPT_CASES

EMBEDDING_TOLERANCE = 1e-4
MEL_TOLERANCE = 1e-4
RESAMPLE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def prompt_for(golden, engine_for):
    prompts = {}

    def make(name: str):
        if name not in prompts:
            case = golden(name)
            asked = case.inputs["request"]
            engine = engine_for(case.checkpoint)
            with recorded_encoder_stages(engine) as stages:
                prompt = engine.create_voice_clone_prompt(
                    ref_audio=case["ref_audio"],
                    ref_sample_rate=asked["ref_sample_rate"],
                    ref_text=asked["ref_text"],
                    x_vector_only=asked["x_vector_only"],
                )
            prompts[name] = (case, prompt, stages)
        return prompts[name]

    return make


@pytest.mark.parametrize("name", CLONE_PROMPT_CASES)
def test_reference_codes_equal_official(name, prompt_for):
    case, prompt, stages = prompt_for(name)
    assert_codes_equal(prompt.ref_codes, case["ref_codes"], what="reference codes")
    assert_encoder_stages_match(stages, case)


@pytest.mark.parametrize("name", CLONE_PROMPT_CASES)
def test_speaker_embedding_matches_official(name, prompt_for):
    case, prompt, _ = prompt_for(name)
    error = max_abs_error(prompt.speaker_embedding, case["speaker_embedding"])
    assert error <= EMBEDDING_TOLERANCE, f"speaker embedding max abs error {error:.3g}"


@pytest.mark.parametrize("name", ["clone_prompt_16k", "clone_prompt_44k", "clone_prompt_16k_4s"])
def test_resampling_matches_official(name, golden):
    """The official package resamples reference audio with librosa's default (soxr 'HQ')."""
    from qwen_tts.audio import resample

    case = golden(name)
    ours = resample(case["ref_audio"], case.inputs["request"]["ref_sample_rate"], 24000)
    error = max_abs_error(ours, case["resampled_24k"])
    assert error <= RESAMPLE_TOLERANCE, f"resampled audio max abs error {error:.3g}"


@pytest.mark.parametrize("name", CLONE_PROMPT_CASES)
def test_mel_spectrogram_matches_official(name, golden):
    """The speaker encoder's log-mel front-end (librosa slaney filterbank, reflect padding, no centring)."""
    from qwen_tts.audio import mel_spectrogram

    case = golden(name)
    ours = mel_spectrogram(torch.from_numpy(case["resampled_24k"]))[0].numpy()
    error = max_abs_error(ours, case["mel"])
    assert error <= MEL_TOLERANCE, f"log-mel max abs error {error:.3g}"
