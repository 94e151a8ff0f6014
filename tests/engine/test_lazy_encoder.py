"""The codec encoder is read on the first encode (qwen_tts/codec/tokenizer.py ``lazy_encoder``): a Base engine
clones exactly as with an eagerly loaded encoder, an engine that never encodes never holds it, the accounting
follows, and a broken checkpoint still fails at load with the eager load's errors."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.codec import SpeechTokenizer
from qwen_tts.errors import CheckpointError


def _speech(seconds: float, rate: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _bytes(module: torch.nn.Module) -> int:
    """Bytes of the distinct storages under ``module`` (a fused projection's parts are views of it)."""
    tensors = (*module.parameters(), *module.buffers())
    return sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}.values())


def test_base_engine_clones_on_first_use_as_an_eager_encoder_would(tiny_checkpoint):
    folder = tiny_checkpoint("base")
    engine = TTSEngine.from_pretrained(folder, max_seq_len=256)
    assert engine.codec.encoder is None
    before = engine.memory_bytes()
    wave = _speech(1.0)
    prompt = engine.create_voice_clone_prompt(wave, 24000, ref_text="A reference.")
    eager = SpeechTokenizer.from_dir(folder / "speech_tokenizer")
    with torch.inference_mode():
        expected = eager.encode(torch.from_numpy(wave)[None])[0].numpy()
    np.testing.assert_array_equal(prompt.ref_codes, expected)
    assert engine.codec.encoder is not None
    assert engine.memory_bytes() - before == _bytes(engine.codec.encoder) == _bytes(eager.encoder) > 0
    again = engine.create_voice_clone_prompt(wave, 24000, ref_text="A reference.")
    np.testing.assert_array_equal(again.ref_codes, expected)


def test_custom_voice_engine_never_loads_the_encoder(tiny_checkpoint):
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=256)
    before = engine.memory_bytes()
    engine.synthesize(SynthesisRequest(text="Hello", speaker="vivian", seed=1, max_new_frames=3))
    assert engine.codec.encoder is None
    assert not any(name.startswith("encoder.") for name in engine.codec.state_dict())
    assert engine.memory_bytes() == before
    assert _bytes(engine.codec) == _bytes(engine.codec.decoder)


def test_concurrent_first_encodes_load_one_encoder(tiny_checkpoint):
    codec = SpeechTokenizer.from_dir(tiny_checkpoint("base") / "speech_tokenizer", lazy_encoder=True)
    barrier, got = threading.Barrier(4), []

    def first_use() -> None:
        barrier.wait()
        got.append(codec.load_encoder())

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(encoder is got[0] for encoder in got)
    assert codec.encoder is got[0]


def _broken_copy(tmp_path, folder, edit):
    shutil.copytree(folder, tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)
    return tmp_path / "ckpt"


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda t: t.pop("encoder.downsample.conv.weight"), r"missing tensors encoder\.downsample\.conv"),
        (
            lambda t: t.update({"encoder.downsample.conv.weight": torch.zeros(3)}),
            r"shape mismatch .*encoder\.downsample\.conv\.weight \(3,\)",
        ),
        (lambda t: t.update({"encoder.extra.weight": torch.zeros(2)}), r"unexpected tensors .*encoder\.ext"),
    ],
)
def test_a_broken_encoder_fails_at_load(tiny_checkpoint, tmp_path, edit, error):
    folder = _broken_copy(tmp_path, tiny_checkpoint("base") / "speech_tokenizer", edit)
    with pytest.raises(CheckpointError, match=error):
        SpeechTokenizer.from_dir(folder, lazy_encoder=True)
    with pytest.raises(CheckpointError, match=error):  # the eager load says the same
        SpeechTokenizer.from_dir(folder)


def test_an_encoder_changed_after_load_fails_on_first_use(tiny_checkpoint, tmp_path):
    folder = _broken_copy(tmp_path, tiny_checkpoint("base") / "speech_tokenizer", lambda t: None)
    codec = SpeechTokenizer.from_dir(folder, lazy_encoder=True)
    tensors = load_file(folder / "model.safetensors")
    tensors.pop("encoder.downsample.conv.weight")
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing tensors encoder\.downsample\.conv"):
        codec.encode(torch.from_numpy(_speech(0.5))[None])
    assert codec.encoder is None
