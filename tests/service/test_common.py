"""Pure pieces shared by web and workers: text splitting and seam joining (audio: tests/audio)."""

from __future__ import annotations

import math

import numpy as np

from common.seams import SeamJoiner
from common.text import normalize_input, split_pieces, split_sentences


def test_normalize_collapses_spaces_keeps_lines_and_drops_controls() -> None:
    assert (
        normalize_input("  Hello\u00a0\u00a0 world \x00!\r\n\n\n  Next\tline ") == "Hello world !\nNext line"
    )
    assert normalize_input("e\u0301") == "\u00e9"  # NFC
    assert normalize_input(" \n\t ") == ""


def test_sentences_split_on_latin_and_cjk_punctuation_but_not_decimals() -> None:
    text = "Pi is 3.14 today. Really? Yes! 你好。我很好！日本語です？ 끝."
    assert split_sentences(text) == [
        "Pi is 3.14 today.",
        "Really?",
        "Yes!",
        "你好。",
        "我很好！",
        "日本語です？",
        "끝.",
    ]


def test_pieces_pack_sentences_in_order_within_the_limit() -> None:
    sentences = [f"Sentence {i} is here." for i in range(30)]
    pieces = split_pieces(" ".join(sentences), max_chars=60)
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces) == " ".join(sentences)
    assert all(p.endswith(".") for p in pieces)  # never cut inside a sentence that fits


def test_an_overlong_sentence_breaks_at_a_clause_then_a_space() -> None:
    clause = "word " * 10 + "then a comma, " + "more words here " * 6
    pieces = split_pieces(clause, max_chars=80)
    assert pieces[0].endswith(",") and all(len(p) <= 80 for p in pieces)
    unbroken = "x" * 100
    assert split_pieces(unbroken, max_chars=40) == ["x" * 40, "x" * 40, "x" * 20]
    cjk = "这是一个很长的句子，" * 6 + "结束。"
    assert "".join(split_pieces(cjk, max_chars=25)) == cjk


def _join(pieces: list[np.ndarray], chunk: int, **kw: float) -> np.ndarray:
    joiner = SeamJoiner(**kw)
    out = []
    for i, piece in enumerate(pieces):
        out.append(joiner.start_piece())
        for start in range(0, piece.size, chunk):
            out.append(joiner.feed(piece[start : start + chunk]))
        out.append(joiner.end_piece(is_last=i == len(pieces) - 1))
    return np.concatenate(out)


def test_seam_joiner_fades_pieces_into_a_pause_and_keeps_their_insides() -> None:
    loud = [np.full(4800, 0.5, dtype=np.float32), np.full(3000, -0.5, dtype=np.float32)]
    joined = _join(loud, chunk=700, fade_ms=10, pause_ms=100)
    fade, pause = 240, 2400
    assert joined.size == 4800 + pause + 3000
    assert np.max(np.abs(np.diff(joined))) < 0.5 * math.pi / fade  # a raised cosine, no step anywhere
    np.testing.assert_array_equal(joined[: 4800 - fade], 0.5)  # untouched inside
    np.testing.assert_array_equal(joined[4800 : 4800 + pause], 0.0)
    np.testing.assert_array_equal(joined[-3000 + fade :], -0.5)  # the last piece's end is not faded


def test_seam_joiner_passes_a_single_piece_through_exactly() -> None:
    piece = np.random.default_rng(0).uniform(-1, 1, 5000).astype(np.float32)
    np.testing.assert_array_equal(_join([piece], chunk=333), piece)
