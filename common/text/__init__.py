"""Input normalisation and sentence splitting: the text side of synthesis, shared by web and workers.

``split_sentences`` / ``split_pieces`` for whole texts, ``SentenceSplitter`` for text that arrives in
fragments (one implementation underneath, in :mod:`common.text.splitter`); the end-of-sentence rules live in
:mod:`common.text.boundaries`, the per-language abbreviation lists in ``abbreviations.json``.
"""

from __future__ import annotations

import re
import unicodedata

from common.text.splitter import SentenceSplitter, split_pieces, split_sentences

__all__ = ["SentenceSplitter", "normalize_input", "split_pieces", "split_sentences"]

_SPACE_RUN = re.compile(r"[ \t\r\f\v\u00a0\u2007\u2009\u202f\u3000]+")  # no-break and thin spaces too
_BLANK_LINES = re.compile(r"\n\s*\n+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_input(text: str) -> str:
    """NFC-normalise, drop control characters, collapse runs of spaces, keep paragraph breaks, trim."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACE_RUN.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()
