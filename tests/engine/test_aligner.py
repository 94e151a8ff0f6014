"""The forced aligner on a tiny checkpoint written by our own writer: loading through the TTS loading path
(local directory, repo id offline, wrong or incomplete directories), the public ``align`` contract (word
units, monotonic non-overlapping spans inside the head's range, any sample rate and channel layout), bad
input as ``EngineInputError``s, and the monotonic fix-up on hand-made boundaries."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from qwen_tts import CheckpointError, EngineInputError, ForcedAligner, UnknownLanguageError, WordTiming
from qwen_tts.aligner.timestamps import fix_monotonic, word_timings
from qwen_tts.aligner.tiny_checkpoint import write_tiny_aligner
from qwen_tts.aligner.words import split_words


@pytest.fixture(scope="module")
def aligner_dir(tmp_path_factory):
    return write_tiny_aligner(tmp_path_factory.mktemp("aligner") / "tiny")


@pytest.fixture(scope="module")
def aligner(aligner_dir):
    return ForcedAligner.from_pretrained(aligner_dir, device="cpu", dtype="float32")


def _speechy(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * sample_rate)) * 0.1).astype(np.float32)


def _assert_well_formed(timings: list[WordTiming], words: list[str], max_s: float) -> None:
    assert [t.text for t in timings] == words
    for timing in timings:
        assert 0.0 <= timing.start_s <= timing.end_s <= max_s
    for earlier, later in itertools.pairwise(timings):
        assert earlier.end_s <= later.start_s


def test_align_times_every_word_monotonically(aligner):
    text = "Hello world, this is a test. 你好世界!"
    timings = aligner.align(_speechy(3.0, 16000), 16000, text, "English")
    assert all(isinstance(t, WordTiming) for t in timings)
    words = ["Hello", "world", "this", "is", "a", "test", "你", "好", "世", "界"]
    _assert_well_formed(timings, words, aligner.config.max_duration_s)
    for timing in timings:  # on the 80 ms grid
        assert round(timing.start_s * 1000) % 80 == 0 and round(timing.end_s * 1000) % 80 == 0


def test_align_accepts_other_rates_and_stereo(aligner):
    stereo = np.stack([_speechy(2.0, 24000, 1), _speechy(2.0, 24000, 2)], axis=1)  # [N, 2]
    timings = aligner.align(stereo, 24000, "Calm and warm.", "english")
    _assert_well_formed(timings, ["Calm", "and", "warm"], aligner.config.max_duration_s)
    pcm = (_speechy(1.5, 8000, 3) * 32767).astype(np.int16)
    assert [t.text for t in aligner.align(pcm, 8000, "你好", "Chinese")] == ["你", "好"]


def test_text_without_words_aligns_to_nothing(aligner):
    assert aligner.align(_speechy(1.0, 16000), 16000, " ?!... ", "English") == []


@pytest.mark.parametrize(
    ("samples", "sample_rate", "message"),
    [
        (np.zeros(0, dtype=np.float32), 16000, "empty"),
        (np.full(16000, np.nan, dtype=np.float32), 16000, "NaN"),
        (np.zeros(100, dtype=np.float32), 16000, "too short"),
        (np.zeros(16000, dtype=np.float32), 0, "sample_rate"),
        (np.zeros(16000 * 401, dtype=np.float32), 16000, "align it in parts"),
    ],
)
def test_bad_audio_is_an_input_error(aligner, samples, sample_rate, message):
    with pytest.raises(EngineInputError, match=message):
        aligner.align(samples, sample_rate, "Hello world", "English")


def test_unsupported_languages_are_named(aligner):
    with pytest.raises(UnknownLanguageError, match="Japanese"):
        aligner.align(_speechy(1.0, 16000), 16000, "こんにちは", "Japanese")
    with pytest.raises(UnknownLanguageError, match="klingon"):
        split_words("Qapla'", "klingon")


def test_word_splitting_english_and_chinese():
    assert split_words("It's 3.14 p.m. -- in the U.S.!", "English") == [
        "It's",
        "314",
        "pm",
        "in",
        "the",
        "US",
    ]
    assert split_words("混合 mixed 文本，text。", "Chinese") == ["混", "合", "mixed", "文", "本", "text"]


def test_fix_up_repairs_backward_boundaries():
    assert fix_monotonic([0, 80, 160, 240]) == [0, 80, 160, 240]
    assert fix_monotonic([0, 800, 160, 240]) == [0, 0, 160, 240]  # one outlier: its nearer kept neighbour
    # three outliers in a row are spread evenly between their kept neighbours
    repaired = fix_monotonic([0, 80, 900, 950, 990, 400, 480, 560, 640])
    assert repaired == [0, 80, 160, 240, 320, 400, 480, 560, 640]
    timings = word_timings(["a", "b"], [1, 3, 2, 4], 80.0)
    assert timings == [WordTiming("a", 0.08, 0.24), WordTiming("b", 0.24, 0.32)]  # 160 ms ran backwards


def test_loading_refuses_what_is_not_an_aligner(aligner_dir, tmp_path, tiny_checkpoint):
    with pytest.raises(CheckpointError, match="not a Qwen3-ForcedAligner config"):
        shutil.copytree(tiny_checkpoint("custom_voice"), tmp_path / "tts")
        (tmp_path / "tts" / "preprocessor_config.json").write_text("{}")
        ForcedAligner.from_pretrained(tmp_path / "tts")
    partial = shutil.copytree(aligner_dir, tmp_path / "partial")
    (partial / "preprocessor_config.json").unlink()
    with pytest.raises(CheckpointError, match=r"preprocessor_config\.json"):
        ForcedAligner.from_pretrained(partial)
    other = shutil.copytree(aligner_dir, tmp_path / "other_front_end")
    config = json.loads((other / "preprocessor_config.json").read_text())
    (other / "preprocessor_config.json").write_text(json.dumps({**config, "hop_length": 320}))
    with pytest.raises(CheckpointError, match="front end"):
        ForcedAligner.from_pretrained(other)


def test_repo_id_offline_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match="cannot be reached"):
        ForcedAligner.from_pretrained("Qwen/Qwen3-ForcedAligner-0.6B")
