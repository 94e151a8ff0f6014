"""Input normalisation and sentence splitting: the text side of synthesis, shared by web and workers.

``split_sentences`` / ``split_pieces`` for whole texts, ``SentenceSplitter`` for text that arrives in
fragments (one implementation underneath, in :mod:`common.text.splitter`); the end-of-sentence rules live in
:mod:`common.text.boundaries`, the per-language abbreviation lists in ``abbreviations.json``.
"""

from __future__ import annotations

import re
import unicodedata

from common.errors import InvalidRequest
from common.text.splitter import SentenceSplitter, split_pieces, split_sentences

__all__ = ["SentenceSplitter", "normalize_input", "split_pieces", "split_sentences"]

_SPACE_RUN = re.compile(r"[ \t\r\f\v\u00a0\u2007\u2009\u202f\u3000]+")  # no-break and thin spaces too
_BLANK_LINES = re.compile(r"\n\s*\n+")
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSPEAKABLE = ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")  # controls, zero-width/format characters, spaces


def normalize_input(text: str) -> str:
    """NFC-normalise, strip NULs, drop control characters, collapse runs of spaces, keep paragraph breaks,
    trim; ``""`` when nothing speakable is left (only zero-width, format, control characters or spaces), so
    callers refuse it as ``empty_input`` instead of synthesizing silence. A lone UTF-16 surrogate (JSON
    allows ``"\\ud800"``) is not text: ``InvalidRequest`` (400), not a failure in the encoder later."""
    if (lone := _LONE_SURROGATE.search(text)) is not None:
        raise InvalidRequest(
            f"input holds a lone UTF-16 surrogate (U+{ord(lone.group()):04X} at character {lone.start()});"
            " send valid Unicode text",
            param="input",
            code="invalid_input",
        )
    text = unicodedata.normalize("NFC", text.replace("\x00", ""))
    text = _CONTROL.sub(" ", text)
    text = _SPACE_RUN.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    return text if any(unicodedata.category(c) not in _UNSPEAKABLE for c in text) else ""
