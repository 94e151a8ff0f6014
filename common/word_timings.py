"""Word timings that travel with a request's audio on the chunk stream (both modes: one protocol).

Why a separate item: a piece's words are known only once its audio is complete (the aligner needs the whole
piece), so they follow that audio on the stream. Only a ``SynthesisJob`` with ``timestamps="word"`` gets
them; every other reader sees PCM bytes alone. Times are seconds from the piece's first sample; ``offset_s``
is where the piece starts in the request's audio (earlier pieces and the pauses between them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from common.subtitles import Word, shifted


@dataclass(frozen=True, slots=True)
class PieceWords:
    piece: int
    offset_s: float
    words: tuple[Word, ...]

    def from_start(self) -> list[Word]:
        """The words in seconds from the start of the request's audio."""
        return shifted(self.words, self.offset_s)

    def to_json(self) -> str:
        words = [[w.text, round(w.start_s, 4), round(w.end_s, 4)] for w in self.words]
        return json.dumps(
            {"piece": self.piece, "offset_s": self.offset_s, "words": words}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> PieceWords:
        body = json.loads(data)
        words = tuple(Word(text, float(start), float(end)) for text, start, end in body["words"])
        return cls(piece=int(body["piece"]), offset_s=float(body["offset_s"]), words=words)


StreamItem = bytes | PieceWords
"""What a chunk stream yields: PCM bytes, and (when asked for) a piece's words after its audio."""
