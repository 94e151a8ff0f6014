"""Sentence splitting: the tricky-line set (``sentences.yaml``, shared with bench/sentences.py) and streaming.

Each line must split exactly as a narrator would pause, with the request's language and without one; lines
marked ``miss`` are known limits and must keep failing (xfail strict), so fixing one shows up here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from common.text import SentenceSplitter, split_pieces, split_sentences
from common.text.abbreviations import language_code

CASES = yaml.safe_load((Path(__file__).parent / "sentences.yaml").read_text("utf-8"))
LANGUAGES = {"en", "de", "fr", "es", "it", "pt", "ru", "zh", "ja", "ko"}


def _params(*, hinted: bool) -> list:
    params = []
    for n, case in enumerate(CASES):
        marks = [pytest.mark.xfail(strict=True, reason=case["miss"])] if "miss" in case else []
        language = case["lang"] if hinted else None
        params.append(
            pytest.param(case["text"], language, case["split"], id=f"{case['lang']}-{n}", marks=marks)
        )
    return params


def test_the_set_covers_every_language_with_enough_lines() -> None:
    assert len(CASES) >= 100
    assert {case["lang"] for case in CASES} == LANGUAGES
    for case in CASES:  # the expected split keeps every character of the line
        assert "".join(case["split"]).replace(" ", "") == case["text"].replace(" ", "").replace("\n", "")


@pytest.mark.parametrize(("text", "language", "expected"), _params(hinted=True))
def test_splits_like_a_narrator_with_the_language(text: str, language: str, expected: list[str]) -> None:
    assert split_sentences(text, language=language) == expected


@pytest.mark.parametrize(("text", "language", "expected"), _params(hinted=False))
def test_splits_like_a_narrator_without_a_language(text: str, language: None, expected: list[str]) -> None:
    assert split_sentences(text, language=language) == expected


def _one_char_at_a_time(text: str, **options: object) -> list[str]:
    splitter = SentenceSplitter(**options)  # type: ignore[arg-type]
    released = [sentence for char in text for sentence in splitter.feed(char)]
    return released + splitter.flush()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['lang']}-{n}" for n, c in enumerate(CASES)])
def test_fragments_of_one_character_give_the_sentences_of_the_whole_text(case: dict) -> None:
    text, language = case["text"], case["lang"]
    assert _one_char_at_a_time(text, language=language) == split_sentences(text, language=language)
    capped = SentenceSplitter(language=language, max_chars=16)
    whole = capped.feed(text) + capped.flush()
    assert _one_char_at_a_time(text, language=language, max_chars=16) == whole


def test_random_fragments_of_a_long_mixed_text_give_the_same_sentences() -> None:
    text = "\n".join(case["text"] for case in CASES)
    rng = random.Random(18)
    for max_chars in (None, 24, 300):
        splitter = SentenceSplitter(max_chars=max_chars)
        released: list[str] = []
        pos = 0
        while pos < len(text):
            step = rng.randint(1, 12)
            released += splitter.feed(text[pos : pos + step])
            pos += step
        reference = SentenceSplitter(max_chars=max_chars)
        assert released + splitter.flush() == reference.feed(text) + reference.flush()


def test_long_sentences_released_in_parts_keep_the_splits_of_the_whole_text() -> None:
    """Past LOOK_BACK the streaming splitter drops what it has released; the rules must not notice."""
    inside = ["word", "Dr.", "etc. and", "z. B.", "5. or", "“好！”他", "a,", "J.", "e.g.", "x" * 30, "... so"]
    ends = ["。", "! And", "\n", "Yes."]
    rng = random.Random(5)
    for _ in range(20):
        words = rng.randint(200, 600)
        text = " ".join(rng.choice(ends if rng.random() < 0.01 else inside) for _ in range(words))
        for max_chars in (16, 50, 300):
            reference = SentenceSplitter(max_chars=max_chars)
            splitter = SentenceSplitter(max_chars=max_chars)
            released: list[str] = []
            pos = 0
            while pos < len(text):
                step = rng.choice((1, 2, 5, 40))
                released += splitter.feed(text[pos : pos + step])
                pos += step
            assert released + splitter.flush() == reference.feed(text) + reference.flush()


def test_a_sentence_is_released_only_once_it_is_complete() -> None:
    splitter = SentenceSplitter(language="en")
    assert splitter.feed("Dr.") == []
    assert splitter.feed(" Smith arrived.") == []  # "arrived." may still go on: ".." or "." "”" or " and"
    assert splitter.feed(" ") == []
    assert splitter.feed("H") == ["Dr. Smith arrived."]
    assert splitter.feed("e left at 5 p.m. and") == []
    assert splitter.feed(" came back. ") == []
    assert splitter.feed("“") == []  # an opening quote: the next word's case decides
    assert splitter.feed("Why?”") == ["He left at 5 p.m. and came back."]
    assert splitter.flush() == ["“Why?”"]


def test_cjk_and_spaced_abbreviations_wait_for_their_look_ahead() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("「行こう！") == []
    assert splitter.feed("」") == []
    assert splitter.feed("と言った。") == []  # 」と: the quote belongs to this sentence
    assert splitter.feed("次") == ["「行こう！」と言った。"]
    assert splitter.flush() == ["次"]
    german = SentenceSplitter(language="de")
    assert german.feed("Das gilt z. B") == []  # "z." is not an end before "B."
    assert german.feed(". für alle. Und") == ["Das gilt z. B. für alle."]
    assert german.flush() == ["Und"]


def test_flush_releases_the_rest_and_starts_afresh() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("No end mark here") == []
    assert splitter.flush() == ["No end mark here"]
    assert splitter.flush() == []
    assert splitter.feed("Again. Yes") == ["Again."]
    assert splitter.flush() == ["Yes"]


def test_the_length_cap_forces_a_split_of_an_unpunctuated_stream() -> None:
    splitter = SentenceSplitter(max_chars=40)
    stream = "so we kept talking and talking, " + "and nobody stopped us " * 8
    released: list[str] = []
    for char in stream:
        released += splitter.feed(char)
    assert released, "the cap releases parts before the stream ends"
    assert released[0] == "so we kept talking and talking,"  # at the clause mark
    rest = splitter.flush()
    parts = released + rest
    assert all(len(part) <= 40 for part in parts)
    assert " ".join(parts) == stream.strip()
    assert all(not part.endswith(" ") and " " in part for part in parts)  # whole words, at spaces
    assert SentenceSplitter(max_chars=40).feed("x" * 100) == ["x" * 40, "x" * 40]  # mid-word: last resort
    with pytest.raises(ValueError, match="at least 16"):
        SentenceSplitter(max_chars=8)


def test_pieces_pack_sentences_and_join_cjk_without_a_space() -> None:
    assert split_pieces("你好。我很好！", max_chars=50) == ["你好。我很好！"]
    assert split_pieces("안녕하세요. 반갑습니다.", max_chars=50) == ["안녕하세요. 반갑습니다."]
    text = "Dr. Smith met Mr. Jones at 3.14 p.m. in the U.S. They talked."
    assert split_pieces(text, max_chars=50, language="english") == [
        "Dr. Smith met Mr. Jones at 3.14 p.m. in the U.S.",
        "They talked.",
    ]


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("en", "en"),
        ("English", "en"),
        ("de-DE", "de"),
        ("pt_BR", "pt"),
        ("auto", None),
        (None, None),
        ("xx", None),
    ],
)
def test_the_language_hint_takes_codes_and_names(language: str | None, code: str | None) -> None:
    assert language_code(language) == code
