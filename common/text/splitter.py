"""Sentences from text that arrives whole or in fragments: one implementation for batch and streaming callers.

``SentenceSplitter.feed`` releases a sentence only once it is complete (its end decided by
:func:`~common.text.boundaries.find_end`, which waits for the look ahead it needs), ``flush`` releases the
rest. With ``max_chars`` a sentence longer than that is released in parts, cut at the last clause mark
(``,;:、，；：—–``) or, failing that, the last space before the limit, and only as a last resort mid-word: so
an unpunctuated stream still moves. Feeding a text one character at a time gives exactly the sentences of
feeding it whole; ``split_sentences`` and ``split_pieces`` are the batch entry points on top.
"""

from __future__ import annotations

from common.text.abbreviations import rules_for
from common.text.boundaries import LOOK_BACK, find_end

_CLAUSE_MARKS = ",;:、，；：—–"
_TIGHT = frozenset("。！？｡．」』）】》〉、，；：…")  # after these, CJK sentences join without a space


class SentenceSplitter:
    """Incremental sentence splitter; ``language`` (a code or name, optional) picks the abbreviation lists."""

    def __init__(self, *, language: str | None = None, max_chars: int | None = None) -> None:
        if max_chars is not None and max_chars < 16:
            raise ValueError(f"max_chars must be at least 16, got {max_chars}")
        self._rules = rules_for(language)
        self._max_chars = max_chars
        self._buffer = ""
        self._start = 0  # where the current sentence starts (in a long one: LOOK_BACK before the rest)
        self._has_word = False  # whether the current sentence has a letter or digit before _start
        self._emitted = 0  # how far the current sentence was already released in parts (max_chars)
        self._scan = 0  # candidates before this index are decided: no sentence end there

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the sentences (or capped parts) it completed, in order."""
        if self._start:
            self._buffer = self._buffer[self._start :]
            self._emitted -= self._start
            self._scan -= self._start
            self._start = 0
        self._buffer += text
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """The end of the text: release what is left, and start afresh."""
        sentences = self._drain(final=True)
        self._buffer, self._start, self._emitted, self._scan, self._has_word = "", 0, 0, 0, False
        return sentences

    def _drain(self, *, final: bool) -> list[str]:
        out: list[str] = []
        buffer = self._buffer
        while True:
            start = _skip_space(buffer, self._start)
            if start == len(buffer):
                self._start = self._emitted = self._scan = start
                return out
            self._start = start
            self._emitted = max(self._emitted, start)
            self._scan = max(self._scan, start)
            end, self._scan = find_end(
                buffer, start, self._scan, self._rules, final=final, has_word=self._has_word
            )
            if end is not None:
                rest = buffer[self._emitted : end].strip()
                out.extend(_break_long(rest, self._max_chars) if self._max_chars else [rest] if rest else [])
                self._start = self._emitted = self._scan = end
                self._has_word = False
            elif self._is_overlong(buffer):
                assert self._max_chars is not None
                window = buffer[self._emitted : self._emitted + self._max_chars]
                cut = _cut(window, self._max_chars)
                out.append(window[: cut + 1].strip())
                self._emitted = _skip_space(buffer, self._emitted + cut + 1)
                self._keep_only_look_back(buffer)
            else:
                return out

    def _keep_only_look_back(self, buffer: str) -> None:
        """In a long sentence released in parts, keep only the context the rules read (bounded memory)."""
        if self._emitted - self._start > 2 * LOOK_BACK:
            new_start = self._emitted - LOOK_BACK
            self._has_word = self._has_word or any(char.isalnum() for char in buffer[self._start : new_start])
            self._start = new_start

    def _is_overlong(self, buffer: str) -> bool:
        """Whether the rest of the current sentence is sure to exceed ``max_chars``, its end still unknown."""
        if self._max_chars is None:
            return False
        limit = self._emitted + self._max_chars
        if self._scan < limit:
            return False  # an end at or before the limit may still be decided
        visible = _skip_space(buffer, limit, stop_at_newline=True)
        return visible < len(buffer) and buffer[visible] != "\n"


def _skip_space(text: str, pos: int, *, stop_at_newline: bool = False) -> int:
    while pos < len(text) and text[pos].isspace() and not (stop_at_newline and text[pos] == "\n"):
        pos += 1
    return pos


def _cut(window: str, max_chars: int) -> int:
    """Index of the last character of the first part of an overlong sentence (``window`` = its first N)."""
    cut = max(window.rfind(mark) for mark in _CLAUSE_MARKS)
    if cut < max_chars // 3:
        space = window.rfind(" ")
        cut = space - 1 if space > max_chars // 3 else max_chars - 1
    return cut


def _break_long(sentence: str, max_chars: int) -> list[str]:
    parts: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        cut = _cut(rest[:max_chars], max_chars)
        parts.append(rest[: cut + 1].strip())
        rest = rest[cut + 1 :].strip()
    if rest:
        parts.append(rest)
    return parts


def split_sentences(text: str, *, language: str | None = None) -> list[str]:
    """Sentences of ``text`` in order, without surrounding whitespace."""
    splitter = SentenceSplitter(language=language)
    return splitter.feed(text) + splitter.flush()


def _joiner(left: str, right: str) -> str:
    """No space between CJK sentences (a space there is not in the text and may be read as a pause)."""
    is_han_or_kana = "\u3040" <= right[0] <= "\u30ff" or "\u3400" <= right[0] <= "\u9fff"
    return "" if left[-1] in _TIGHT and is_han_or_kana else " "


def split_pieces(text: str, *, max_chars: int, language: str | None = None) -> list[str]:
    """Pack the sentences of ``text`` greedily into pieces of at most ``max_chars`` characters, in order.

    A sentence longer than ``max_chars`` is cut as in :class:`SentenceSplitter`; pieces never lose or reorder
    characters except the whitespace at a break.
    """
    splitter = SentenceSplitter(language=language, max_chars=max_chars)
    pieces: list[str] = []
    current = ""
    for part in splitter.feed(text) + splitter.flush():
        joiner = _joiner(current, part) if current else ""
        if current and len(current) + len(joiner) + len(part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current = f"{current}{joiner}{part}"
    if current:
        pieces.append(current)
    return pieces
