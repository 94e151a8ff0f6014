"""The audiobook parts of ``POST /v1/jobs``: loudness target, room tone, and the m4b's tags and cover.

Why a base64 cover inside the JSON body: a client creates a whole audiobook job with one request (no
multipart, no second call that must land before the job finalizes); the image is checked (JPEG or PNG that
decodes, at most 5 MiB) before the job is written, and stored beside the job's audio.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.audio.book_tags import Cover, read_cover
from common.errors import InvalidRequest


class LoudnessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lufs: float = Field(ge=-40.0, le=-5.0, allow_inf_nan=False, description="integrated loudness, LUFS")
    true_peak_dbtp: float = Field(default=-1.0, ge=-12.0, le=0.0, allow_inf_nan=False)


Loudness = Literal["acx", "ebu-r128"] | float | LoudnessIn
LOUDNESS_DESCRIPTION = (
    'per chapter: "acx" (RMS -20 dBFS, true peak <= -3.5 dBTP, room tone 0.75 s / 2.5 s), "ebu-r128" '
    "(-23 LUFS, -1 dBTP), a LUFS number (-1 dBTP) or {lufs, true_peak_dbtp}; measured values per chapter "
    "in outputs[].loudness"
)


class RoomToneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    head_s: float = Field(default=0.0, ge=0.0, le=5.0, description="silence before each chapter")
    tail_s: float = Field(default=0.0, ge=0.0, le=10.0, description="silence after each chapter")


class BookIn(BaseModel):
    """Tags of the m4b (title as ©nam/©alb, author as ©ART/aART, narrator as ©wrt) and its cover."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    narrator: str | None = Field(default=None, max_length=500)
    cover: str | None = Field(
        default=None,
        max_length=7 * 1024 * 1024,
        description="base64 of a JPEG or PNG file (a data: URL too), at most 5 MiB; the covr atom",
    )

    def cover_image(self) -> Cover | None:
        """The decoded, checked cover; ``InvalidRequest`` (param ``book.cover``) when it is not one."""
        if self.cover is None:
            return None
        text = self.cover.split(",", 1)[1] if self.cover.startswith("data:") else self.cover
        try:
            return read_cover(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as e:
            raise InvalidRequest(f"book.cover: {e}", param="book.cover", code="invalid_cover") from e

    def stored(self, cover: Cover | None) -> dict[str, Any]:
        """What the job keeps: the tags, the cover's extension and digest (the image is a blob)."""
        body = self.model_dump(exclude={"cover"})
        if cover is None:
            return body | {"cover": None}
        return body | {"cover": cover.extension, "cover_sha256": hashlib.sha256(cover.data).hexdigest()}
