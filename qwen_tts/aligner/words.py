"""Splitting a transcript into the units the aligner times: words, and single characters for CJK ideographs.

The official rules: split at whitespace, keep only letters, digits and apostrophes of each piece, then cut
every CJK ideograph out as a unit of its own ("Hello, 世界!" -> Hello / 世 / 界). Punctuation is never
timed. Japanese and Korean need dictionary segmenters (nagisa, soynlp in the official package): not here.
"""

from __future__ import annotations

import unicodedata

from ..errors import UnknownLanguageError

# Languages whose words are found by whitespace and CJK ideographs (everything Qwen3-ForcedAligner supports
# but Japanese and Korean).
SPACE_SPLIT_LANGUAGES = frozenset(
    {"chinese", "cantonese", "english", "german", "spanish", "french", "italian", "portuguese", "russian"}
)
UNSUPPORTED_LANGUAGES = frozenset({"japanese", "korean"})

_CJK_RANGES = (
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0x3400, 0x4DBF),  # Extension A
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2B73F),  # Extension C
    (0x2B740, 0x2B81F),  # Extension D
    (0x2B820, 0x2CEAF),  # Extension E
    (0xF900, 0xFAFF),  # Compatibility Ideographs
)


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_kept(char: str) -> bool:
    return char == "'" or unicodedata.category(char)[0] in ("L", "N")


def split_words(text: str, language: str) -> list[str]:
    """The timed units of ``text`` in ``language`` (a name such as "English" or "chinese")."""
    name = language.strip().lower()
    if name in UNSUPPORTED_LANGUAGES:
        raise UnknownLanguageError(
            f"word alignment for {language} is not supported (needs its word segmenter)"
        )
    if name not in SPACE_SPLIT_LANGUAGES:
        supported = ", ".join(sorted(SPACE_SPLIT_LANGUAGES))
        raise UnknownLanguageError(f"unknown alignment language {language!r}; supported: {supported}")
    words: list[str] = []
    for piece in text.split():
        kept = "".join(char for char in piece if _is_kept(char))
        run: list[str] = []
        for char in kept:
            if is_cjk(char):
                if run:
                    words.append("".join(run))
                    run = []
                words.append(char)
            else:
                run.append(char)
        if run:
            words.append("".join(run))
    return words
