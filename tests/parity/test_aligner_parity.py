"""Our forced aligner equals the official qwen-asr one on a tiny checkpoint in the released layout (which the
official classes load without a missing or unexpected tensor): the same prompt ids, log-mel features and
logits at every position within 1e-4, the same argmax classes, the same word timings; and the official
word splitting and monotonic fix-up, case by case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qwen_tts.aligner.timestamps import fix_monotonic
from qwen_tts.aligner.words import split_words
from tests.parity.compare import max_abs_error

LOGITS_TOLERANCE = 1e-4
FEATURES_TOLERANCE = 1e-4
CASES = ("en_short_16k", "en_3s_16k", "zh_mixed_12s_16k", "en_5s_24k")


@pytest.fixture(scope="module")
def aligner(aligner_goldens_dir):
    from qwen_tts import ForcedAligner

    return ForcedAligner.from_pretrained(aligner_goldens_dir / "checkpoint", device="cpu", dtype="float32")


def _case(goldens_dir, name):
    from safetensors.numpy import load_file

    inputs = json.loads((goldens_dir / name / "inputs.json").read_text(encoding="utf-8"))
    return inputs, load_file(str(goldens_dir / name / "tensors.safetensors"))


def test_manifest_lists_every_case(aligner_goldens_dir):
    manifest = json.loads((aligner_goldens_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    assert tuple(manifest["cases"]) == CASES
    assert manifest["transformers"] == "4.57.6"


@pytest.mark.parametrize("name", CASES)
def test_forward_pass_matches_official(name, aligner, aligner_goldens_dir):
    inputs, tensors = _case(aligner_goldens_dir, name)
    words = split_words(inputs["text"], inputs["language"])
    assert words == inputs["words"]

    features = aligner.features(tensors["samples"], inputs["sample_rate"]).numpy()
    error = max_abs_error(features, tensors["input_features"])
    assert error <= FEATURES_TOLERANCE, f"log-mel max abs error {error:.3g}"

    ids, logits = aligner.logits(tensors["samples"], inputs["sample_rate"], words)
    assert ids == tensors["input_ids"].tolist()
    logits = logits.numpy()
    error = max_abs_error(logits, tensors["logits"])
    assert error <= LOGITS_TOLERANCE, f"logits max abs error {error:.3g}"
    official = tensors["logits"]
    assert np.array_equal(logits.argmax(-1), official.argmax(-1)), "argmax classes differ"


@pytest.mark.parametrize("name", CASES)
def test_word_timings_match_official(name, aligner, aligner_goldens_dir):
    inputs, tensors = _case(aligner_goldens_dir, name)
    timings = aligner.align(tensors["samples"], inputs["sample_rate"], inputs["text"], inputs["language"])
    assert [[t.text, t.start_s, t.end_s] for t in timings] == inputs["items"]


def test_word_splitting_matches_official(aligner_goldens_dir):
    cases = json.loads((aligner_goldens_dir / "words.json").read_text(encoding="utf-8"))
    for text, language, official in cases:
        assert split_words(text, language) == official, (text, language)


def test_monotonic_fix_up_matches_official(aligner_goldens_dir):
    cases = json.loads((aligner_goldens_dir / "fix_timestamp.json").read_text(encoding="utf-8"))
    assert any(sequence != sorted(sequence) for sequence, _ in cases)  # the cases exercise the repair
    for sequence, official in cases:
        assert fix_monotonic(sequence) == official, sequence
