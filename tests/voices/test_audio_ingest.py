"""Reference-audio ingest with the real ffmpeg: formats by magic bytes, safe decoding flags, limits."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from common.audio_ingest import (
    AudioRejected,
    IngestLimits,
    decode_command,
    decode_upload,
    ingest_audio,
    sniff_format,
)
from common.errors import Unavailable
from tests.voices.fakes import recording

FORMATS = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "m4a": "m4a",
    "aac": "aac",
    "webm": "webm",
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_accepted_format_decodes_to_mono_24khz(fmt: str) -> None:
    audio = ingest_audio(recording(2.0, fmt=fmt, frequency=440))
    assert audio.format.name == FORMATS[fmt]
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)  # aac/m4a carry encoder priming
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) * 24_000 / audio.samples.size == pytest.approx(440, abs=2)
    wav = audio.normalized_wav()
    assert wav[:4] == b"RIFF" and int.from_bytes(wav[22:24], "little") == 1  # mono
    assert int.from_bytes(wav[24:28], "little") == 24_000


def test_the_format_comes_from_the_bytes_not_the_name() -> None:
    assert sniff_format(recording(1.0, fmt="flac")).name == "flac"
    assert sniff_format(b"#EXTM3U\nhttp://example.com/a.mp3\n") is None  # a playlist is no audio
    assert sniff_format(b"ffconcat version 1.0\nfile /etc/passwd\n") is None
    assert sniff_format(b"") is None


def test_the_decode_command_allows_no_protocol_but_the_file_and_no_stdin(tmp_path: Path) -> None:
    command = decode_command("ffmpeg", tmp_path / "upload.wav", sniff_format(recording(1.0)), 60.0)
    joined = " ".join(command)
    assert "-nostdin" in command and "-protocol_whitelist file -f wav -i" in joined
    assert "-t 60.500" in joined and "-ac 1 -ar 24000" in joined


def test_decoding_stops_just_past_the_duration_cap() -> None:
    """A long input costs no more than the cap: ffmpeg stops at cap + 0.5 s, and the upload is refused."""
    limits = IngestLimits(max_seconds=2.0)
    long = recording(30.0)
    decoded = decode_upload(long, sniff_format(long), ffmpeg="ffmpeg", limits=limits, param=None)
    assert decoded.size == int(2.5 * 24_000)
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(long, limits=limits)
    assert caught.value.code == "audio_too_long"


def test_a_hanging_decoder_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(recording(1.5), ffmpeg=str(slow), limits=IngestLimits(decode_timeout_s=0.5))
    assert caught.value.code == "audio_undecodable" and "longer than" in caught.value.message


def test_a_missing_ffmpeg_is_a_503() -> None:
    with pytest.raises(Unavailable):
        ingest_audio(recording(1.5), ffmpeg="/nonexistent/ffmpeg")


@pytest.mark.parametrize(
    ("data", "limits", "code", "status"),
    [
        (b"", IngestLimits(), "audio_empty", 400),
        (b"RIFF....WAVE" + b"\0" * 100, IngestLimits(max_upload_bytes=50), "payload_too_large", 413),
        (b"\x00\x01garbage", IngestLimits(), "unsupported_audio_format", 415),
        (b"fLaC" + b"\0" * 64, IngestLimits(), "audio_undecodable", 400),
    ],
)
def test_rejections_carry_a_status_and_code(
    data: bytes, limits: IngestLimits, code: str, status: int
) -> None:
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(data, limits=limits, param="file")
    assert (caught.value.code, caught.value.status, caught.value.param) == (code, status, "file")
