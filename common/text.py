"""Input normalisation and sentence-aware splitting of long text into synthesis pieces.

Splitting policy: break after sentence-final punctuation (Latin ``.!?…;`` followed by whitespace;
CJK ``。！？；`` and full-width variants anywhere), then pack whole sentences greedily into pieces of at
most ``max_chars``.
A sentence longer than that is broken at the last clause mark (``,:、，：`` …) or, failing that, the last
whitespace before the limit, and only as a last resort mid-word. Pieces never lose or reorder characters
except the whitespace at a break.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE_RUN = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Sentence end: Latin terminators need following whitespace (so "3.14" stays whole); CJK ones do not.
_SENTENCE_END = re.compile(r"(?<=[.!?…;])[\"'”’)\]]*\s+|(?<=[。！？；｡])[」』”’）)]*\s*|\n+")
_CLAUSE_MARKS = ",:、，：—–"


def normalize_input(text: str) -> str:
    """NFC-normalise, drop control characters, collapse runs of spaces, keep paragraph breaks, trim."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACE_RUN.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order, without surrounding whitespace."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def _break_long(sentence: str, max_chars: int) -> list[str]:
    parts: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = max(window.rfind(mark) for mark in _CLAUSE_MARKS)
        if cut < max_chars // 3:
            space = window.rfind(" ")
            cut = space - 1 if space > max_chars // 3 else max_chars - 1
        parts.append(rest[: cut + 1].strip())
        rest = rest[cut + 1 :].strip()
    if rest:
        parts.append(rest)
    return parts


def split_pieces(text: str, *, max_chars: int) -> list[str]:
    """Pack the sentences of ``text`` into pieces of at most ``max_chars`` characters, in order."""
    if max_chars < 16:
        raise ValueError(f"max_chars must be at least 16, got {max_chars}")
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        for part in _break_long(sentence, max_chars):
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces
