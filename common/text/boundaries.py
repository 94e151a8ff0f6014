"""Where a sentence ends, decided the way a narrator reads: from the sentence so far plus a short look ahead.

A candidate is a run of end marks (``.!?…`` and CJK ``。！？``) with the closing quotes and brackets after it,
or a line break (``;`` is a clause mark, not an end). Latin marks end a sentence only before whitespace and a
word that does not start in lower case, and a single ``.`` not after an abbreviation, an initial, a list
number or (German) an ordinal; CJK marks end one anywhere, except before a quotative particle (「…！」と) or
a dialogue tag (“…！”他说). :func:`find_end` answers "not yet" rather than guess when the look ahead has not
arrived, so a streaming caller that feeds text in fragments gets exactly the sentences of the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.text.abbreviations import Rules

LOOK_BACK = 256  # the rules never look further back than this (see SentenceSplitter's trimming)
_WORD_BACK = 64  # the words before a period that the abbreviation lists are matched on
_QUOTE_BACK = 200  # how far back an opening quote is looked for
_CJK_MARKS = frozenset("。！？｡．")
_CLOSERS = frozenset("\"'”’“‘»«)]}›‹」』）】》〉〕］*")  # "*": Markdown emphasis, as LLMs write it
_CJK_CLOSERS = frozenset("」』）】》〉〕］")
_AFTER_CJK_MARKS = _CLOSERS - frozenset("“‘«‹")  # after 。 a “ opens the next sentence (Chinese)
# Skipped before the first letter of the next sentence: opening quotes and brackets, dialogue dashes.
_OPENERS = frozenset("\"'“‘„‚«»¿¡([{‹›「『（【《〈〔［—–-*")
_QUOTATIVE = frozenset("とっ")  # 「行こう！」と言った: the quote is part of the sentence
_SPACES_BEFORE_GUILLEMET = frozenset(" \u00a0\u202f\u2009")  # French: "Non ! »", also with thin spaces
_INTRODUCERS = frozenset("：:，,")  # 他说：“走吧！” — an introduced quote ends the sentence
_CANDIDATE = re.compile(r"[.!?…。！？｡．]+|\n")
_CHAIN_UNIT = re.compile(r"[^\W\d_]{1,3}\.")  # "z." / "т." in a spaced abbreviation such as "z. B."
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "J" / "U.S" / "J.R.R"
_NUMBER = re.compile(r"\d+|[IVXLC]+")
_LIST_NUMBER = re.compile(r"\d{1,3}")
_WORD = re.compile(r"[^\W\d_]+")
_ALNUM = re.compile(r"[^\W_]")


def _is_cjk(char: str) -> bool:
    return "\u3040" <= char <= "\u30ff" or "\u3400" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af"


def find_end(
    text: str, start: int, pos: int, rules: Rules, *, final: bool, has_word: bool = False
) -> tuple[int | None, int]:
    """The end of the sentence that starts at ``start``, looking at candidates from ``pos`` on.

    ``start`` may also be a point inside a long sentence at least :data:`LOOK_BACK` characters before
    ``pos``; then ``has_word`` says whether the sentence had a letter or digit before it. Returns
    ``(end, resume)``: ``end`` is the index just past the sentence (``None``: not found yet) and ``resume``
    the index to look from next time (every candidate before it is decided: no end there).
    """
    word = _ALNUM.search(text, start)
    sentence = _Sentence(text, start, rules, final, -1 if has_word else word.start() if word else len(text))
    for match in _CANDIDATE.finditer(text, pos):
        i = match.start()
        if match.group() == "\n":
            return i, i
        j = match.end()
        closers = _AFTER_CJK_MARKS if _CJK_MARKS.intersection(match.group()) else _CLOSERS
        k = _skip_closers(text, j, closers, final=final)
        if k is None or (k == len(text) and not final):
            return None, i
        is_end = sentence.ends(i, j, k)
        if is_end is None:
            return None, i
        if is_end:
            return k, k
    return (len(text), len(text)) if final else (None, len(text))


def _skip_closers(text: str, j: int, closers: frozenset[str], *, final: bool) -> int | None:
    """Past the closing quotes and brackets after the marks; ``None`` while a French `` »`` may follow."""
    k = j
    while k < len(text):
        if text[k] in closers:
            k += 1
        elif text[k] in _SPACES_BEFORE_GUILLEMET and text.startswith("»", k + 1):
            k += 2
        elif text[k] in _SPACES_BEFORE_GUILLEMET and k + 1 == len(text) and not final:
            return None
        else:
            break
    return k


def _skip_space(text: str, p: int) -> int:
    while p < len(text) and text[p].isspace():
        p += 1
    return p


def _next_letter(text: str, k: int) -> int | None:
    """Index of the first letter or digit after the whitespace and openers at ``k``; -1 at a line break."""
    p = k
    while p < len(text):
        char = text[p]
        if char == "\n":
            return -1
        if not (char.isspace() or char in _OPENERS):
            return p
        p += 1
    return None


@dataclass(frozen=True, slots=True)
class _Sentence:
    """The sentence being read: where it starts, where its first letter or digit is (-1: before ``start``)."""

    text: str
    start: int
    rules: Rules
    final: bool
    first_word: int

    def ends(self, i: int, j: int, k: int) -> bool | None:
        """Whether the marks ``text[i:j]`` and closers ``text[j:k]`` end it; ``None``: not yet known."""
        text = self.text
        if self.first_word >= i:
            return False  # "..." or "?!" before any word: leading punctuation, not a sentence
        if k == len(text):
            return True
        marks, closers, after = text[i:j], text[j:k], text[k]
        if any(mark in _CJK_MARKS for mark in marks):
            return self._cjk_ends(i, closers, after)
        if not after.isspace():
            # Latin marks between CJK letters ("すごい!本当", "왔다.내일"); never inside "3.14" or a URL.
            return not closers and "…" not in marks and _is_cjk(text[i - 1]) and _is_cjk(after)
        first = _next_letter(text, k)
        if first is None:
            return True if self.final else None
        if first < 0:
            return True  # a line break follows
        if text[first].islower():
            return False  # "etc. and", "“Stop!” he said", "¿Vienes? —preguntó"
        if closers and first == _skip_space(text, k) and text[first].isalpha() and not text[first].isupper():
            return False  # a dialogue tag in an uncased script: "어디 가?" 그가 물었다.
        if marks != ".":
            return True
        return self._period_ends(i, first)

    def _cjk_ends(self, i: int, closers: str, after: str) -> bool:
        if not closers or after.isspace() or after in _OPENERS:
            return True
        if after in _QUOTATIVE or not after.isalnum():
            return False  # 「行こう！」と…, 「はい。」、…
        if closers[-1] in _CJK_CLOSERS:
            return True  # 「はい。」彼は笑った。
        back = max(self.start, i - _QUOTE_BACK)
        opening = max(self.text.rfind(q, back, i) for q in '“‘"')
        # 他说：“走吧！”然后… (an introduced quote ends the sentence) vs “你来了？”她问道 (a tag follows)
        return opening > self.start and self.text[opening - 1] in _INTRODUCERS

    def _period_ends(self, i: int, first: int) -> bool | None:
        """A single ``.`` followed by a word that starts in upper case, a digit or an uncased script."""
        text, rules = self.text, self.rules
        back = max(self.start, i - _WORD_BACK)
        before = text[back:i] if back == self.start else text[back:i].partition(" ")[2]
        units = _chain(before)
        raw_keys = [".".join(units[n:]) for n in range(len(units))]
        keys = [key.lower() for key in raw_keys]
        next_is_digit = text[first].isdigit()
        words = before.split()
        for raw, key in zip(raw_keys, keys, strict=True):
            if raw in rules.no_break:
                return False  # listed with capitals: "MM." but not "5 mm."
            if key in rules.may_end:
                return True
            if key in rules.no_break or (key in rules.before_number and next_is_digit):
                return False
            if key in rules.after_number_only:
                previous = words[-2] if len(words) >= 2 else ""
                return _NUMBER.fullmatch(previous) is not None
        if any(key in rules.heads for key in keys):
            unit = _WORD.match(text, first)
            if unit is not None and unit.end() == len(text) and not self.final:
                return None  # "z. B" may become "z. B."
            is_unit = unit is not None and text.startswith(".", unit.end())
            if is_unit and any(rules.continues(key, unit.group().lower()) for key in keys):
                return False  # "z. B. für"
        last = units[-1]
        if _INITIALS.fullmatch(last) and last.replace(".", "").isupper():
            return False  # "J. R. R. Tolkien", "George W. Bush", "А. С. Пушкин"
        if _LIST_NUMBER.fullmatch(last):
            if self.first_word >= 0 and i - self.start <= 3 and text[self.start : i] == last:
                return False  # "1. Preheat the oven."
            previous = words[-2].lower().rstrip(".") if len(words) >= 2 else ""
            is_ordinal_context = rules.ordinal_dots or previous in rules.ordinal_after
            if is_ordinal_context and previous not in rules.before_number:
                return False  # "am 3. Oktober", but "Nr. 5. Sie"
            if rules.months:
                word = _WORD.match(text, first)
                if word is None:
                    return True
                if word.end() == len(text) and not self.final:
                    return None  # the month name may go on
                return word.group().lower() not in rules.months
        return True


def _chain(before: str) -> list[str]:
    """The word before the period, with the spaced abbreviation units before it: "z. B" → ["z", "B"]."""
    words = before.split(" ")
    last = words[-1].lstrip("".join(_OPENERS))
    last = re.split(r"['’]", last)[-1]  # "L'Avv" → "Avv"
    units = [last]
    for word in reversed(words[:-1]):
        if not _CHAIN_UNIT.fullmatch(word):
            break
        units.insert(0, word[:-1])
    return units
