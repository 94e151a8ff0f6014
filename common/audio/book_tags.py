"""An audiobook's tags and cover, as MP4 (M4B) players read them.

Why these keys: FFmpeg's mp4 muxer writes ``title`` as ©nam, ``album`` ©alb, ``artist`` ©ART,
``album_artist`` aART, ``composer`` ©wrt and ``genre`` ©gen; Apple Books and most audiobook players show the
author as artist and the narrator as composer. The cover goes in as an attached-picture stream (one packet
holding the JPEG or PNG file), which the muxer writes as the ``covr`` atom.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

MAX_COVER_BYTES = 5 * 1024 * 1024
_CODECS = {"jpeg_pipe": ("mjpeg", "jpeg"), "png_pipe": ("png", "png")}


@dataclass(frozen=True, slots=True)
class Cover:
    data: bytes
    codec: str  # FFmpeg's: mjpeg or png
    extension: str  # jpeg or png
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class BookTags:
    title: str | None = None
    author: str | None = None
    narrator: str | None = None
    cover: Cover | None = None

    def metadata(self) -> dict[str, str]:
        """Container tags for the mp4 muxer (only those given)."""
        tags: dict[str, str] = {"genre": "Audiobook"}
        if self.title:
            tags |= {"title": self.title, "album": self.title}
        if self.author:
            tags |= {"artist": self.author, "album_artist": self.author}
        if self.narrator:
            tags["composer"] = self.narrator
        return tags


def read_cover(data: bytes) -> Cover:
    """The image ``data`` checked (a JPEG or PNG that decodes, at most 5 MiB); ValueError says why not."""
    if len(data) > MAX_COVER_BYTES:
        raise ValueError(f"the cover is {len(data)} bytes; at most {MAX_COVER_BYTES}")
    try:
        with av.open(io.BytesIO(data), "r") as image:
            kind = _CODECS.get(image.format.name)
            if kind is None:
                raise ValueError(f"the cover must be a JPEG or PNG image, not {image.format.name}")
            stream = image.streams.video[0]
            frame = next(image.decode(stream))
    except (av.FFmpegError, IndexError, StopIteration) as e:
        raise ValueError("the cover is not a readable JPEG or PNG image") from e
    return Cover(data=data, codec=kind[0], extension=kind[1], width=frame.width, height=frame.height)
