"""The audio formats the service writes: what each is called, its content type, and how FFmpeg makes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AudioFormat:
    name: str
    content_type: str
    muxer: str | None  # FFmpeg muxer; None: raw PCM, written by us (pcm, and wav with our own header)
    codec: str  # FFmpeg encoder
    bit_rate: int | None = None  # None: the codec's own choice (lossless)
    is_seekable_only: bool = False  # MP4: the index is written at the end, so no streaming
    brand: str | None = None  # MP4 major brand (players tell an audiobook from its brand and extension)

    @property
    def is_raw(self) -> bool:
        return self.muxer is None


_PCM_TYPE = "audio/pcm; rate=24000; encoding=s16le; channels=1"

FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", 96_000),
    "opus": AudioFormat("opus", "audio/ogg; codecs=opus", "ogg", "libopus", 48_000),
    "aac": AudioFormat("aac", "audio/aac", "adts", "aac", 96_000),
    "flac": AudioFormat("flac", "audio/flac", "flac", "flac"),
    "wav": AudioFormat("wav", "audio/wav", None, "pcm_s16le"),
    "pcm": AudioFormat("pcm", _PCM_TYPE, None, "pcm_s16le"),
    # jobs only: an audiobook with chapter marks, and its chapters alone (AAC in MP4; speech at 64 kb/s).
    # FFmpeg's mp4 muxer with the iTunes brand: unlike "ipod" it takes the cover's attached-picture stream
    "m4b": AudioFormat("m4b", "audio/mp4", "mp4", "aac", 64_000, is_seekable_only=True, brand="M4B "),
    "m4a": AudioFormat("m4a", "audio/mp4", "mp4", "aac", 64_000, is_seekable_only=True, brand="M4A "),
}

RESPONSE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")  # what /v1/audio/speech can stream


def audio_format(name: str) -> AudioFormat:
    """The format called ``name``; a ValueError names the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown audio format {name!r} (known: {', '.join(FORMATS)})") from None
