"""One encoder + muxer fed with PCM: the piece the streaming and the whole-file encoders share.

Input is s16le mono PCM at 24 kHz in chunks of any byte length (an odd byte waits for its pair). Frames are
stamped by sample count, pass through the tempo graph when ``speed`` is not 1, and PyAV re-blocks and
converts them to what the codec takes (1152-sample MP3 frames, 20 ms Opus frames, planar float AAC).

``target`` decides what the muxer may do: a path or a seekable file lets it go back and write exact headers
at the end (MP3 Xing/Info, FLAC STREAMINFO totals, the MP4 index); a write-only sink makes a stream. Every
FFmpeg or I/O failure is an ``EncodingFailed`` naming the format.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import av
import numpy as np

from common.audio.book_tags import BookTags
from common.audio.formats import AudioFormat
from common.audio.tempo import Tempo, is_unit_speed
from common.contracts import SAMPLE_RATE
from common.errors import EncodingFailed

OGG_PAGE_US = 20_000  # streaming Ogg: one page per 20 ms Opus packet, so each page leaves at once
FLAC_STREAM_BLOCK = 960  # streaming FLAC: 40 ms blocks, so an 80 ms chunk is out at once (default ~105 ms)


class PcmTarget(Protocol):
    def write(self, data: bytes, /) -> Any: ...


@contextmanager
def encoder_errors(fmt: str) -> Iterator[None]:
    """FFmpeg and I/O errors inside the block become ``EncodingFailed`` (keeping their cause)."""
    try:
        yield
    except (av.FFmpegError, OSError) as e:
        raise EncodingFailed(f"the {fmt} audio encoder failed: {e}") from e


class Framer:
    """s16le bytes → mono s16 frames at 24 kHz, through the tempo graph when ``speed`` is not 1."""

    def __init__(self, speed: float = 1.0) -> None:
        self._tempo = None if is_unit_speed(speed) else Tempo(speed)
        self._carry = b""
        self._pts = 0

    def feed(self, pcm: bytes) -> list[av.AudioFrame]:
        data = self._carry + pcm
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        if not whole:
            return []
        samples = np.frombuffer(data[:whole], dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts, self._pts = self._pts, self._pts + samples.shape[1]
        frame.time_base = Fraction(1, SAMPLE_RATE)
        return [frame] if self._tempo is None else self._tempo.push(frame)

    def end(self) -> list[av.AudioFrame]:
        return [] if self._tempo is None else self._tempo.push(None)


def frame_bytes(frames: Sequence[av.AudioFrame]) -> bytes:
    return b"".join(frame.to_ndarray().astype("<i2").tobytes() for frame in frames)


class PcmWriter:
    """Raw s16le out (pcm, and a wav body): bytes pass straight through at speed 1."""

    def __init__(self, fmt: AudioFormat, target: PcmTarget, *, speed: float = 1.0) -> None:
        self._name, self._target = fmt.name, target
        self._framer = None if is_unit_speed(speed) else Framer(speed)

    def write(self, pcm: bytes) -> None:
        with encoder_errors(self._name):
            self._target.write(pcm if self._framer is None else frame_bytes(self._framer.feed(pcm)))

    def finish(self) -> None:
        if self._framer is not None:
            with encoder_errors(self._name):
                self._target.write(frame_bytes(self._framer.end()))

    def abort(self) -> None:
        self._framer = None


class CodecWriter:
    """A PyAV output container with one audio stream of ``fmt``'s codec."""

    def __init__(
        self,
        fmt: AudioFormat,
        target: Path | BinaryIO | PcmTarget,
        *,
        speed: float = 1.0,
        streaming: bool = False,
        chapters: Sequence[dict[str, Any]] = (),
        book: BookTags | None = None,
    ) -> None:
        assert fmt.muxer is not None, f"{fmt.name} is raw PCM: use PcmWriter"
        self._name = fmt.name
        self._framer = Framer(speed)
        options = {"flush_packets": "1"} if streaming else {}
        if streaming and fmt.muxer == "ogg":
            options["page_duration"] = str(OGG_PAGE_US)
        if fmt.is_seekable_only:
            options["movflags"] = "+faststart"  # the index before the audio: players start at once
        if fmt.brand is not None:
            options["brand"] = fmt.brand
        with encoder_errors(fmt.name):
            where = str(target) if isinstance(target, Path) else target
            self._container = av.open(where, "w", format=fmt.muxer, options=options)
            self._stream = self._container.add_stream(fmt.codec, rate=SAMPLE_RATE, layout="mono")
            if fmt.bit_rate is not None:
                self._stream.bit_rate = fmt.bit_rate
            if fmt.codec == "libopus":
                self._stream.codec_context.options = {"application": "voip"}
            if streaming and fmt.codec == "flac":
                self._stream.codec_context.options = {"frame_size": str(FLAC_STREAM_BLOCK)}
            if chapters:
                self._container.set_chapters(list(chapters))
            if book is not None:
                self._add_book(book)

    def _add_book(self, book: BookTags) -> None:
        """Tags on the container; the cover as an attached picture (one packet: the image file itself)."""
        self._container.metadata.update(book.metadata())
        if book.cover is None:
            return
        cover = book.cover
        picture = self._container.add_stream(cover.codec)
        picture.width, picture.height = cover.width, cover.height
        # the muxer opens an encoder for the stream (never used: the packet is the file)
        picture.pix_fmt = "rgb24" if cover.codec == "png" else "yuvj420p"
        picture.disposition = av.stream.Disposition.attached_pic
        self._container.start_encoding()
        packet = av.Packet(cover.data)
        packet.stream, packet.pts, packet.dts = picture, 0, 0
        packet.time_base = Fraction(1, 90_000)
        self._container.mux(packet)

    def write(self, pcm: bytes) -> None:
        with encoder_errors(self._name):
            self._encode(self._framer.feed(pcm))

    def finish(self) -> None:
        """Flush the codec and the muxer (the trailer: exact sizes where the target is seekable)."""
        with encoder_errors(self._name):
            try:
                self._container.start_encoding()  # the header even when no audio came (a valid empty file)
                self._encode([*self._framer.end(), None])
            finally:
                self._container.close()

    def abort(self) -> None:
        """Release the container and its codec; the output will not be used (no codec tail is flushed)."""
        with contextlib.suppress(av.FFmpegError, OSError):  # an abandoned output: nothing in it to save
            self._container.close()

    def _encode(self, frames: Sequence[av.AudioFrame | None]) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)


def open_writer(
    fmt: AudioFormat,
    target: Path | BinaryIO | PcmTarget,
    *,
    speed: float = 1.0,
    streaming: bool = False,
    chapters: Sequence[dict[str, Any]] = (),
    book: BookTags | None = None,
) -> PcmWriter | CodecWriter:
    if fmt.is_raw:
        assert not isinstance(target, Path)
        return PcmWriter(fmt, target, speed=speed)
    return CodecWriter(fmt, target, speed=speed, streaming=streaming, chapters=chapters, book=book)
