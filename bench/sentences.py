"""Sentence splitting: exact-split accuracy on the tricky-line set, per language, and speed.

    python -m bench.sentences [--repeat 20]

Scores every splitter on ``tests/text/sentences.yaml`` (the same lines the tests assert): a line counts
only when the splitter returns exactly the expected sentences. Splitters: the regex splitter this project
used before (kept here as the baseline), ``pysbd`` and ``sentencex`` when installed (candidates, not
dependencies: ``pip install pysbd sentencex``), and ours with and without the line's language. Speed is
characters per second over the whole set joined into one text, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from common.text import split_sentences

CASES = Path(__file__).resolve().parent.parent / "tests" / "text" / "sentences.yaml"
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "ru", "zh", "ja", "ko")
PYSBD_LANGUAGES = {"en", "de", "fr", "es", "it", "ru", "zh", "ja"}  # pysbd 0.3.4 has no pt, no ko

Splitter = Callable[[str, str], list[str]]

_BEFORE = re.compile(r"(?<=[.!?…;])[\"'”’)\]]*\s+|(?<=[。！？；｡])[」』”’）)]*\s*|\n+")


def before(text: str, lang: str) -> list[str]:
    """The splitter of common/text.py up to this change: any end mark before whitespace."""
    return [part.strip() for part in _BEFORE.split(text) if part and part.strip()]


def ours(text: str, lang: str) -> list[str]:
    return split_sentences(text, language=lang)


def ours_no_hint(text: str, lang: str) -> list[str]:
    return split_sentences(text)


def candidates() -> dict[str, Splitter | str]:
    """The library splitters that are installed; the others as the reason they are missing."""
    found: dict[str, Splitter | str] = {}
    try:
        import pysbd

        segmenters = {
            lang: pysbd.Segmenter(language=lang if lang in PYSBD_LANGUAGES else "en", clean=False)
            for lang in LANGUAGES
        }
        found["pysbd"] = lambda text, lang: [s.strip() for s in segmenters[lang].segment(text) if s.strip()]
    except ImportError:
        found["pysbd"] = "not installed"
    try:
        import sentencex

        found["sentencex"] = lambda text, lang: [
            s.strip() for s in sentencex.segment(lang, text) if s.strip()
        ]
    except ImportError:
        found["sentencex"] = "not installed"
    return found


def score(split: Splitter, cases: list[dict]) -> dict[str, tuple[int, int]]:
    """Per language: (lines split exactly as expected, lines)."""
    totals: dict[str, tuple[int, int]] = {}
    for case in cases:
        hits, count = totals.get(case["lang"], (0, 0))
        totals[case["lang"]] = (hits + (split(case["text"], case["lang"]) == case["split"]), count + 1)
    return totals


def chars_per_second(split: Splitter, cases: list[dict], repeat: int) -> float:
    by_language = {lang: " ".join(c["text"] for c in cases if c["lang"] == lang) for lang in LANGUAGES}
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for lang, text in by_language.items():
            split(text, lang)
        best = min(best, time.perf_counter() - began)
    return sum(map(len, by_language.values())) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    cases = yaml.safe_load(CASES.read_text("utf-8"))
    splitters: dict[str, Splitter | str] = {"before (regex)": before, **candidates()}
    splitters |= {"ours, language hint": ours, "ours, no hint": ours_no_hint}
    header = ["splitter", "all", *LANGUAGES, "chars/s"]
    print(f"{len(cases)} lines from {CASES.name}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, split in splitters.items():
        if isinstance(split, str):
            print(f"| {name} | {split} |")
            continue
        totals = score(split, cases)
        hits = sum(h for h, _ in totals.values())
        cells = [f"{hits}/{len(cases)} ({100 * hits / len(cases):.0f}%)"]
        cells += [f"{totals[lang][0]}/{totals[lang][1]}" for lang in LANGUAGES]
        cells.append(f"{chars_per_second(split, cases, args.repeat):,.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
