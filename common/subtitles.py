"""Word timings → subtitles: SRT, WebVTT and a JSON of words, with the offsets that place them in a file.

Why here: the jobs' finalize writes them per chapter and for the whole book from each segment's timings
(seconds from the segment's start, as the aligner gives them); ``shifted`` moves words by the segment's
place in the joined audio (room tone, earlier segments, the pauses between them, earlier chapters) and
divides by ``speed``, since the tempo filter scales every time. Cues group words into readable lines: at most
``MAX_CUE_WORDS`` words or ``MAX_CUE_CHARS`` characters, broken early at a pause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_CUE_WORDS = 8
MAX_CUE_CHARS = 42  # the common broadcast line length
MAX_GAP_S = 0.6  # a longer silence between two words starts a new cue


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Cue:
    text: str
    start_s: float
    end_s: float


def words_from_json(data: bytes | str) -> list[Word]:
    return [Word(w["text"], float(w["start"]), float(w["end"])) for w in json.loads(data)["words"]]


def words_json(words: Sequence[Word]) -> str:
    """``{"words": [{"text", "start", "end"}, ...]}`` (seconds, millisecond precision)."""
    items = [{"text": w.text, "start": round(w.start_s, 3), "end": round(w.end_s, 3)} for w in words]
    return json.dumps({"words": items}, ensure_ascii=False)


def shifted(words: Iterable[Word], offset_s: float, *, speed: float = 1.0) -> list[Word]:
    """``words`` moved by ``offset_s`` (in the unscaled audio), then scaled by the tempo ``speed``."""
    return [Word(w.text, (w.start_s + offset_s) / speed, (w.end_s + offset_s) / speed) for w in words]


def cues(words: Sequence[Word]) -> list[Cue]:
    out: list[Cue] = []
    group: list[Word] = []
    for word in words:
        if group and (
            len(group) >= MAX_CUE_WORDS
            or len(" ".join(w.text for w in group)) + 1 + len(word.text) > MAX_CUE_CHARS
            or word.start_s - group[-1].end_s > MAX_GAP_S
        ):
            out.append(_cue(group))
            group = []
        group.append(word)
    if group:
        out.append(_cue(group))
    return out


def _cue(group: Sequence[Word]) -> Cue:
    return Cue(" ".join(w.text for w in group), group[0].start_s, group[-1].end_s)


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt(words: Sequence[Word]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start_s, ',')} --> {_clock(c.end_s, ',')}\n{c.text}\n"
        for n, c in enumerate(cues(words), start=1)
    ]
    return "\n".join(blocks)


def vtt(words: Sequence[Word]) -> str:
    blocks = [f"{_clock(c.start_s, '.')} --> {_clock(c.end_s, '.')}\n{c.text}\n" for c in cues(words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


SUBTITLE_FORMATS = {
    "srt": ("application/x-subrip", srt),
    "vtt": ("text/vtt", vtt),
    "json": ("application/json", words_json),
}
