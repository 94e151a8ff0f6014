"""Bad input is a clear ValueError subclass naming the problem (and the valid choices)."""

from __future__ import annotations

import numpy as np
import pytest

from qwen_tts import (
    EmptyTextError,
    EngineInputError,
    MissingInstructError,
    ReferenceAudioError,
    SynthesisRequest,
    UnknownLanguageError,
    UnknownSpeakerError,
    UnsupportedRequestError,
    VoiceClonePrompt,
)

SR = 24000


def _tone(seconds: float, sr: int = SR, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _clone(engine) -> VoiceClonePrompt:
    hidden = engine.config.talker.transformer.hidden_size
    return VoiceClonePrompt(np.zeros(hidden, np.float32), np.zeros((3, 16), np.int64), "hello", False)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(tiny_engine, text):
    with pytest.raises(EmptyTextError):
        tiny_engine("custom_voice").synthesize(SynthesisRequest(text=text, speaker="vivian"))


def test_unknown_speaker_lists_the_valid_ones(tiny_engine):
    engine = tiny_engine("custom_voice")
    with pytest.raises(UnknownSpeakerError, match=r"valid: .*vivian") as info:
        engine.synthesize(SynthesisRequest(text="Hello", speaker="nobody"))
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownSpeakerError, match="no speaker"):
        engine.synthesize(SynthesisRequest(text="Hello"))


def test_unknown_language_lists_the_valid_ones(tiny_engine):
    with pytest.raises(UnknownLanguageError, match="valid: auto, chinese, english"):
        tiny_engine("custom_voice").synthesize(
            SynthesisRequest(text="Hi", speaker="vivian", language="klingon")
        )
    with pytest.raises(UnknownLanguageError):  # dialects are chosen by speaker, not requested
        tiny_engine("custom_voice").synthesize(
            SynthesisRequest(text="Hi", speaker="vivian", language="beijing_dialect")
        )


def test_voice_design_needs_instruct(tiny_engine):
    with pytest.raises(MissingInstructError):
        tiny_engine("voice_design").synthesize(SynthesisRequest(text="Hello", instruct="  "))


def test_clone_requests_need_a_base_model(tiny_engine):
    engine = tiny_engine("custom_voice")
    with pytest.raises(UnsupportedRequestError, match="Base"):
        engine.synthesize(SynthesisRequest(text="Hello", speaker="vivian", voice_clone=_clone(engine)))
    with pytest.raises(UnsupportedRequestError, match="Base"):
        engine.create_voice_clone_prompt(_tone(2.0), SR, "hello")


def test_base_model_needs_a_clone_prompt(tiny_engine):
    with pytest.raises(UnsupportedRequestError, match="voice_clone"):
        tiny_engine("base").synthesize(SynthesisRequest(text="Hello"))


def test_clone_prompt_of_the_wrong_width(tiny_engine):
    prompt = VoiceClonePrompt(np.zeros(7, np.float32), None, None, x_vector_only=True)
    with pytest.raises(EngineInputError, match="speaker_embedding"):
        tiny_engine("base").synthesize(SynthesisRequest(text="Hello", voice_clone=prompt))


@pytest.mark.parametrize(
    ("audio", "sr", "match"),
    [
        (_tone(0.1), SR, "lasts 0.10 s"),
        (_tone(61.0, sr=8000), 8000, "lasts 61.00 s"),
        (np.zeros(SR * 2, np.float32), SR, "silent"),
        (np.full(SR * 2, np.nan, np.float32), SR, "NaN"),
        (np.zeros((2, 2, 2), np.float32), SR, "shape"),
        (_tone(2.0), 0, "ref_sample_rate"),
    ],
)
def test_bad_reference_audio(tiny_engine, audio, sr, match):
    with pytest.raises(ReferenceAudioError, match=match):
        tiny_engine("base").create_voice_clone_prompt(audio, sr, "hello")


def test_in_context_clone_needs_ref_text(tiny_engine):
    with pytest.raises(EngineInputError, match="ref_text"):
        tiny_engine("base").create_voice_clone_prompt(_tone(2.0), SR, ref_text=None)


def test_bad_request_fields():
    with pytest.raises(EngineInputError):
        SynthesisRequest(text="Hello", max_new_frames=0)
    with pytest.raises(EngineInputError):
        SynthesisRequest(text="Hello", min_new_frames=-1)
    with pytest.raises(EngineInputError, match="ref_codes"):
        VoiceClonePrompt(np.zeros(4, np.float32), None, "text", x_vector_only=False)


def test_bad_codes_for_codec_decode(tiny_engine):
    with pytest.raises(EngineInputError, match=r"\[frames, 16\]"):
        tiny_engine("custom_voice").codec_decode(np.zeros((4, 3), np.int64))


def test_text_longer_than_the_engine_holds(tiny_checkpoint):
    from qwen_tts import TTSEngine

    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=32)
    with pytest.raises(EngineInputError, match="max_seq_len"):
        engine.synthesize(SynthesisRequest(text="Hello world " * 20, speaker="vivian"))


def test_bad_engine_options(tiny_checkpoint):
    from qwen_tts import TTSEngine

    with pytest.raises(ValueError, match="chunk sizes"):
        TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), emit_every_frames=0)
    with pytest.raises(ValueError, match="dtype"):
        TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), dtype="float8")
