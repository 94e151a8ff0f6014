"""``--demo`` ships a tiny forced aligner beside its tiny TTS models: demo settings point ``aligner_model`` at
it and it loads and aligns; outside the demo the aligner is off unless configured."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from common.settings import Settings, load_settings
from server.composition import demo_settings


def test_aligner_is_off_unless_configured():
    assert load_settings(env={}).aligner_model is None
    configured = load_settings(env={"QWEN_TTS_ALIGNER_MODEL": "Qwen/Qwen3-ForcedAligner-0.6B"})
    assert configured.aligner_model == "Qwen/Qwen3-ForcedAligner-0.6B"


def test_demo_writes_a_loadable_aligner(tmp_path: Path):
    from qwen_tts import ForcedAligner

    settings = demo_settings(Settings(data_dir=tmp_path), tmp_path / "models")
    assert settings.aligner_model is not None and Path(settings.aligner_model).is_dir()
    again = demo_settings(Settings(data_dir=tmp_path), tmp_path / "models")  # written once, then reused
    assert again.aligner_model == settings.aligner_model
    aligner = ForcedAligner.from_pretrained(settings.aligner_model, device="cpu", dtype="float32")
    noise = (np.random.default_rng(0).standard_normal(24000) * 0.1).astype(np.float32)
    timings = aligner.align(noise, 24000, "Hello demo world.", "English")
    assert [t.text for t in timings] == ["Hello", "demo", "world"]
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(timings))
