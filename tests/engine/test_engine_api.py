"""The public engine API on tiny checkpoints: shapes, caps, streaming, clone prompts, ignored fields."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qwen_tts import SamplingParams, SynthesisRequest, TTSEngine

SR = 24000
FORCED = dict(max_new_frames=5, min_new_frames=5)  # end of speech impossible: exactly 5 frames


def _speech(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_synthesize_returns_mono_float32_at_24k_with_codes(tiny_engine):
    engine = tiny_engine("custom_voice")
    out = engine.synthesize(SynthesisRequest(text="Hello world", speaker="vivian", seed=1, **FORCED))
    assert out.sample_rate == SR
    assert out.codes.dtype == np.int64 and out.codes.shape == (5, 16)
    assert out.samples.dtype == np.float32 and out.samples.shape == (5 * 1920,)
    assert np.abs(out.samples).max() > 0
    assert not out.finished  # cut by max_new_frames


def test_max_new_frames_caps_the_output(tiny_engine):
    engine = tiny_engine("custom_voice")
    out = engine.synthesize(SynthesisRequest(text="Hello world", speaker="vivian", max_new_frames=3, seed=2))
    assert out.codes.shape[0] <= 3 and out.samples.shape == (out.codes.shape[0] * 1920,)


def test_stream_concatenation_equals_synthesize(tiny_checkpoint):
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=256, emit_every_frames=2)
    request = SynthesisRequest(
        text="Hello world", speaker="vivian", seed=3, max_new_frames=7, min_new_frames=7
    )
    chunks = list(engine.stream(request))
    whole = engine.synthesize(request)
    assert [c.codes.shape[0] for c in chunks] == [1, 2, 2, 2]  # a one-frame first chunk, then 2 each
    assert [c.is_last for c in chunks] == [False, False, False, True]
    assert np.array_equal(np.concatenate([c.codes for c in chunks]), whole.codes)
    np.testing.assert_allclose(np.concatenate([c.samples for c in chunks]), whole.samples, atol=1e-5)


def test_names_are_case_insensitive(tiny_engine):
    engine = tiny_engine("custom_voice")
    lower = engine.synthesize(
        SynthesisRequest(text="Hi", speaker="vivian", language="english", seed=4, **FORCED)
    )
    upper = engine.synthesize(
        SynthesisRequest(text="Hi", speaker="VIVIAN", language="English", seed=4, **FORCED)
    )
    assert np.array_equal(lower.codes, upper.codes)


def test_what_the_model_offers(tiny_engine):
    engine = tiny_engine("custom_voice")
    assert engine.model_type == "custom_voice"
    assert {"vivian", "eric", "dylan"} <= set(engine.speakers)
    assert engine.languages[0] == "auto" and "english" in engine.languages
    assert not any("dialect" in name for name in engine.languages)
    assert tiny_engine("voice_design").speakers == ()
    assert not engine.supports_instruct  # 0.6B CustomVoice
    assert tiny_engine("voice_design").supports_instruct and not tiny_engine("base").supports_instruct


def test_instruct_on_0b6_custom_voice_is_reported_as_ignored(tiny_engine):
    engine = tiny_engine("custom_voice")  # 0b6: the official package drops instruct
    plain = engine.synthesize(SynthesisRequest(text="Hi", speaker="ryan", seed=5, **FORCED))
    styled = engine.synthesize(
        SynthesisRequest(text="Hi", speaker="ryan", instruct="whisper", seed=5, **FORCED)
    )
    assert styled.ignored == ("instruct",) and "instruct is ignored" in styled.warnings[0]
    assert np.array_equal(plain.codes, styled.codes)


def test_instruct_on_1b7_custom_voice_is_honoured(tiny_engine):
    engine = tiny_engine("custom_voice_1b7")
    greedy = SamplingParams(do_sample=False, subtalker_do_sample=False)
    plain = engine.synthesize(SynthesisRequest(text="Hi", speaker="ryan", sampling=greedy, **FORCED))
    styled = engine.synthesize(
        SynthesisRequest(text="Hi", speaker="ryan", instruct="whisper", sampling=greedy, **FORCED)
    )
    assert styled.ignored == ()
    assert not np.array_equal(plain.codes, styled.codes)


@pytest.mark.parametrize("ref_sr", [24000, 16000])
def test_voice_clone_prompt_and_trimmed_output(tiny_engine, ref_sr):
    engine = tiny_engine("base")
    prompt = engine.create_voice_clone_prompt(_speech(1.2, ref_sr), ref_sr, ref_text="Hello world")
    hidden = engine.config.talker.transformer.hidden_size
    assert prompt.speaker_embedding.dtype == np.float32 and prompt.speaker_embedding.shape == (hidden,)
    assert prompt.ref_codes.dtype == np.int64 and prompt.ref_codes.shape == (15, 16)  # ceil(1.2 s * 12.5)
    out = engine.synthesize(SynthesisRequest(text="Hi there", voice_clone=prompt, seed=6, **FORCED))
    assert out.codes.shape == (5, 16) and out.samples.shape == (5 * 1920,)  # the reference part is trimmed
    # The prompt is plain data: a copy rebuilt from its arrays clones the same way.
    copy = dataclasses.replace(prompt, speaker_embedding=prompt.speaker_embedding.copy())
    again = engine.synthesize(SynthesisRequest(text="Hi there", voice_clone=copy, seed=6, **FORCED))
    assert np.array_equal(out.codes, again.codes)


def test_x_vector_only_prompt_has_no_codes(tiny_engine):
    engine = tiny_engine("base")
    prompt = engine.create_voice_clone_prompt(_speech(1.0, SR), SR, x_vector_only=True)
    assert prompt.ref_codes is None and prompt.x_vector_only
    out = engine.synthesize(
        SynthesisRequest(text="Hi", voice_clone=prompt, speaker="vivian", seed=7, **FORCED)
    )
    assert out.codes.shape == (5, 16) and out.ignored == ("speaker",)


def test_codec_round_trip_shapes(tiny_engine):
    engine = tiny_engine("base")
    codes = engine.codec_encode(_speech(0.5, 16000), 16000)
    assert codes.dtype == np.int64 and codes.shape == (7, 16)  # ceil(0.5 s * 12.5)
    samples = engine.codec_decode(codes)
    assert samples.dtype == np.float32 and samples.shape == (7 * 1920,)
    np.testing.assert_allclose(engine.codec_decode(codes[:3]), samples[: 3 * 1920], atol=1e-4)  # causal


def test_interleaved_streams_on_one_engine_equal_separate_runs(tiny_checkpoint):
    """Requests own their state: advancing two streams in turn (as the engine host does) mixes nothing."""
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=256, emit_every_frames=2)
    first = SynthesisRequest(text="Hello world", speaker="vivian", seed=8, max_new_frames=4, min_new_frames=4)
    second = SynthesisRequest(text="The voice", speaker="eric", seed=9, max_new_frames=6, min_new_frames=6)
    streams = {"first": engine.stream(first), "second": engine.stream(second)}
    chunks: dict[str, list] = {"first": [], "second": []}
    while streams:
        for name in list(streams):
            chunk = next(streams[name], None)
            if chunk is None:
                del streams[name]
            else:
                chunks[name].append(chunk)
    for name, request in (("first", first), ("second", second)):
        alone = engine.synthesize(request)
        assert np.array_equal(np.concatenate([c.codes for c in chunks[name]]), alone.codes)
        np.testing.assert_allclose(
            np.concatenate([c.samples for c in chunks[name]]), alone.samples, atol=1e-5
        )
