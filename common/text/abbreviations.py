"""The abbreviation lists of ``abbreviations.json``, per language, as the sets the sentence-end rules look in.

With a language (a code such as ``"de"`` or a name such as ``"German"``, as requests carry it) the common
lists plus that language's; with none, or ``auto``, the union of all of them: an abbreviation of one
language is rarely a sentence-final word of another, and entries that are (``MM`` / ``mm``) are written
with capitals so that only that case matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Rules:
    """The abbreviation lists of one language (or of all of them, when the language is unknown)."""

    no_break: frozenset[str]
    before_number: frozenset[str]
    after_number_only: frozenset[str]
    may_end: frozenset[str]
    months: frozenset[str]
    ordinal_after: frozenset[str]
    ordinal_dots: bool
    heads: frozenset[str]  # "z" of "z.b": a unit that a listed spaced abbreviation goes on from

    def continues(self, key: str, unit: str) -> bool:
        """Whether ``key`` followed by ``unit`` is (the start of) a listed spaced abbreviation."""
        joined = f"{key}.{unit}"
        return joined in self.no_break or joined in self.heads


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(resources.files("common.text").joinpath("abbreviations.json").read_text("utf-8"))


def language_code(language: str | None) -> str | None:
    """``"en"`` for ``"en"``, ``"English"`` or ``"en-US"``; ``None`` for auto, unknown or no language."""
    if not language:
        return None
    raw = language.strip().lower().replace("_", "-")
    data = _data()
    code = data["languages"].get(raw, raw.split("-")[0])
    return code if code in data["languages"].values() else None


@lru_cache(maxsize=16)
def rules_for(language: str | None) -> Rules:
    """The lists for ``language``; with no (known) language the union of all of them, which is safe too."""
    data = _data()
    code = language_code(language)
    sections = [data["common"]] + ([data[code]] if code else [data[c] for c in data["languages"].values()])

    def union(name: str) -> frozenset[str]:
        return frozenset(word for section in sections for word in section.get(name, ()))

    no_break = union("no_break")
    units = [word.split(".") for word in no_break if "." in word]
    return Rules(
        no_break=no_break,
        before_number=union("before_number"),
        after_number_only=union("after_number_only"),
        may_end=union("may_end"),
        months=union("months"),
        ordinal_after=union("ordinal_after"),
        heads=frozenset(".".join(parts[:n]) for parts in units for n in range(1, len(parts))),
        ordinal_dots=any(section.get("ordinal_dots", False) for section in sections) and code is not None,
    )
