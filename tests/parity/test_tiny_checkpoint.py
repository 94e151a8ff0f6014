"""qwen_tts.tiny_checkpoint: our own tiny checkpoints load and synthesize for every model type, and have
exactly the layout of the checkpoints the official classes write (files, tensor names, shapes, configs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

# our tiny checkpoint -> the official one of the same type and size in the goldens
OFFICIAL_TWIN = {"custom_voice": "customvoice_0b6", "voice_design": "voicedesign_1b7", "base": "base_0b6"}
WEIGHT_FILES = ("model.safetensors", "speech_tokenizer/model.safetensors")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {model_type: write_tiny_checkpoint(root / model_type, model_type) for model_type in OFFICIAL_TWIN}


@pytest.fixture(scope="module")
def engine(written):
    engines = {}

    def load(model_type: str) -> TTSEngine:
        if model_type not in engines:
            engines[model_type] = TTSEngine.from_pretrained(written[model_type], max_seq_len=256)
        return engines[model_type]

    return load


def _tensor_shapes(path) -> dict[str, tuple[int, ...]]:
    with safe_open(str(path), framework="np") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118


def _assert_audio(out, max_frames: int) -> None:
    assert 1 <= len(out.codes) <= max_frames
    assert out.codes.shape[1] == 16
    assert len(out.samples) == len(out.codes) * 1920
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0


def test_custom_voice_synthesizes_with_its_speakers(engine):
    tts = engine("custom_voice")
    assert tts.model_type == "custom_voice"
    assert "vivian" in tts.speakers and len(tts.speakers) >= 2
    out = tts.synthesize(
        SynthesisRequest(text="Hello world.", language="english", speaker="Vivian", max_new_frames=4)
    )
    _assert_audio(out, 4)


def test_voice_design_synthesizes_from_instruct(engine):
    tts = engine("voice_design")
    assert tts.model_type == "voice_design"
    out = tts.synthesize(SynthesisRequest(text="Hello world.", instruct="A calm voice.", max_new_frames=4))
    _assert_audio(out, 4)
    assert "instruct" not in out.ignored


def test_base_clones_a_voice(engine):
    tts = engine("base")
    assert tts.model_type == "base"
    t = np.arange(24000, dtype=np.float32) / 24000
    reference = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    prompt = tts.create_voice_clone_prompt(reference, 24000, ref_text="Hello world, this is the voice.")
    assert prompt.ref_codes.shape == (13, 16)  # ceil(24000 / 1920) frames
    assert prompt.speaker_embedding.shape == (64,) and np.isfinite(prompt.speaker_embedding).all()
    out = tts.synthesize(
        SynthesisRequest(text="Hello.", language="english", voice_clone=prompt, max_new_frames=4)
    )
    _assert_audio(out, 4)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    first = write_tiny_checkpoint(tmp_path / "a", "custom_voice", seed=3)
    again = write_tiny_checkpoint(tmp_path / "b", "custom_voice", seed=3)
    other = write_tiny_checkpoint(tmp_path / "c", "custom_voice", seed=4)
    for name in WEIGHT_FILES:
        assert (first / name).read_bytes() == (again / name).read_bytes()
        assert (first / name).read_bytes() != (other / name).read_bytes()


def test_unknown_model_type_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="model_type must be one of"):
        write_tiny_checkpoint(tmp_path / "x", "custom-voice")


@pytest.mark.parametrize("model_type", list(OFFICIAL_TWIN))
def test_layout_equals_the_official_classes(model_type, written, goldens_dir):
    ours, official = written[model_type], goldens_dir / "checkpoints" / OFFICIAL_TWIN[model_type]
    assert sorted(p.relative_to(ours).as_posix() for p in ours.rglob("*")) == sorted(
        p.relative_to(official).as_posix() for p in official.rglob("*")
    )
    for name in WEIGHT_FILES:
        assert _tensor_shapes(ours / name) == _tensor_shapes(official / name), name
    for name in ("config.json", "speech_tokenizer/config.json", "tokenizer.json", "generation_config.json"):
        assert json.loads((ours / name).read_text()) == json.loads((official / name).read_text()), name
