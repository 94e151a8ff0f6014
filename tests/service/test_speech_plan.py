"""Routing a request to a model, a speaker and a language (pure planning, no server)."""

from __future__ import annotations

import pytest

from common.contracts import ModelInfo
from common.errors import InvalidRequest
from tests.service.fake_engine import LANGUAGES, SPEAKERS
from web.schemas import SpeechRequest
from web.speech_plan import Limits, SpeechPlan, plan_speech, split_model_name
from web.voices import BuiltinVoice, SavedVoice

CV = ModelInfo(
    name="0.6B-CustomVoice",
    model_type="custom_voice",
    speakers=SPEAKERS,
    languages=LANGUAGES,
    supports_instruct=False,
)
CV_BIG = ModelInfo(name="1.7B-CustomVoice", model_type="custom_voice", speakers=SPEAKERS, languages=LANGUAGES)
BASE = ModelInfo(name="0.6B-Base", model_type="base", languages=LANGUAGES, supports_instruct=False)
DESIGN = ModelInfo(name="1.7B-VoiceDesign", model_type="voice_design", languages=LANGUAGES)
LIMITS = Limits(max_input_chars=100, max_piece_chars=40)


def plan(
    models: list[ModelInfo], default: str, voice: BuiltinVoice | SavedVoice, **body: object
) -> SpeechPlan:
    request = SpeechRequest.model_validate({"input": "Hello there.", "voice": "alloy", **body})
    return plan_speech(request, voice, models=models, default_model=default, limits=LIMITS, request_id="r1")


ALLOY = BuiltinVoice(requested="alloy", speaker="Vivian")
SAVED = SavedVoice(id="voice_1", name="Ana")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("tts-1", ("tts-1", None)),
        ("tts-1-de", ("tts-1", "german")),
        ("tts-1-hd-ja", ("tts-1-hd", "japanese")),
        ("gpt-4o-mini-tts-zh", ("gpt-4o-mini-tts", "chinese")),
        ("qwen3-tts", ("qwen3-tts", None)),
        ("0.6B-Base-xx", ("0.6B-Base-xx", None)),
    ],
)
def test_language_suffixes(model: str, expected: tuple[str, str | None]) -> None:
    assert split_model_name(model) == expected


@pytest.mark.parametrize("alias", ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "qwen3-tts"])
def test_openai_names_mean_the_default_model(alias: str) -> None:
    p = plan([CV, CV_BIG, BASE], "1.7B-CustomVoice", ALLOY, model=alias)
    assert p.job.model == "1.7B-CustomVoice" and p.job.speaker == "Vivian" and p.job.language == "auto"


def test_a_saved_voice_switches_to_a_base_model_and_back() -> None:
    assert plan([CV, BASE], "0.6B-CustomVoice", SAVED).job.model == "0.6B-Base"
    assert plan([CV, BASE], "0.6B-CustomVoice", SAVED).job.voice_id == "voice_1"
    assert plan([CV, BASE], "0.6B-Base", ALLOY).job.model == "0.6B-CustomVoice"


def test_no_loaded_model_of_the_needed_type_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest, match="needs a Base model"):
        plan([CV], "0.6B-CustomVoice", SAVED)


def test_voice_design_default_uses_instructions_and_requires_them() -> None:
    p = plan([DESIGN, CV], "1.7B-VoiceDesign", ALLOY, instructions="a calm old sailor")
    assert (p.job.model, p.job.speaker, p.job.instruct) == ("1.7B-VoiceDesign", None, "a calm old sailor")
    with pytest.raises(InvalidRequest) as caught:
        plan([DESIGN], "1.7B-VoiceDesign", ALLOY)
    assert caught.value.param == "instructions"


def test_explicit_model_names_with_language_suffix() -> None:
    p = plan([CV, CV_BIG], "0.6B-CustomVoice", ALLOY, model="1.7B-CustomVoice-fr")
    assert (p.job.model, p.job.language) == ("1.7B-CustomVoice", "french")


def test_instructions_the_model_ignores_are_dropped_and_reported() -> None:
    p = plan([CV], "0.6B-CustomVoice", ALLOY, instructions="whisper")
    assert p.job.instruct is None and "does not follow instructions" in (p.instructions_ignored or "")
    big = plan([CV_BIG], "1.7B-CustomVoice", ALLOY, instructions="whisper")
    assert big.job.instruct == "whisper" and big.instructions_ignored is None


@pytest.mark.parametrize(("given", "expected"), [("en", "english"), ("German", "german"), ("auto", "auto")])
def test_language_field_accepts_codes_and_names(given: str, expected: str) -> None:
    assert plan([CV], "0.6B-CustomVoice", ALLOY, language=given).job.language == expected


def test_language_field_beats_the_model_suffix() -> None:
    assert plan([CV], "0.6B-CustomVoice", ALLOY, model="tts-1-de", language="fr").job.language == "french"


def test_stream_modes() -> None:
    assert plan([CV], "0.6B-CustomVoice", ALLOY).stream_mode == "none"
    assert plan([CV], "0.6B-CustomVoice", ALLOY, stream=True).stream_mode == "audio"
    assert plan([CV], "0.6B-CustomVoice", ALLOY, stream_format="audio").stream_mode == "audio"
    assert plan([CV], "0.6B-CustomVoice", ALLOY, stream_format="audio", stream=False).stream_mode == "none"
    assert plan([CV], "0.6B-CustomVoice", ALLOY, stream_format="sse").stream_mode == "sse"


def test_long_input_becomes_ordered_pieces_within_the_limit() -> None:
    text = "One short sentence. Another short sentence. A third one here. And a fourth."
    p = plan([CV], "0.6B-CustomVoice", ALLOY, input=text)
    assert len(p.job.pieces) > 1 and " ".join(p.job.pieces) == text and p.input_chars == len(text)
