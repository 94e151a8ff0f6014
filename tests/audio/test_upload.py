"""Reference-audio uploads decoded in process: formats by magic bytes, the decoding bounds, the rejections."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from common.audio.decode import TooLong, UndecodableAudio, UploadFormat, decode_audio
from common.audio.upload import AudioRejected, IngestLimits, decode_upload, ingest_audio, sniff_format
from tests.audio.samples import UPLOAD_CODECS, encode_file, tone, upload

SNIFFED = {name: name for name in UPLOAD_CODECS}  # what sniffing calls each upload format


@pytest.mark.parametrize("fmt", list(UPLOAD_CODECS))
def test_every_accepted_format_decodes_to_mono_24khz(fmt: str) -> None:
    audio = ingest_audio(upload(fmt, 2.0, frequency=440))
    assert audio.format.name == SNIFFED[fmt]
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)  # aac carries encoder priming
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) * 24_000 / audio.samples.size == pytest.approx(440, abs=2)
    wav = audio.normalized_wav()
    assert wav[:4] == b"RIFF" and int.from_bytes(wav[22:24], "little") == 1  # mono
    assert int.from_bytes(wav[24:28], "little") == 24_000


def test_only_the_first_audio_stream_is_decoded() -> None:
    """A file with two audio streams: the first one's tone comes back, not a mix."""
    out = io.BytesIO()
    with av.open(out, "w", format="matroska") as container:
        streams = [container.add_stream("flac", rate=24_000, layout="mono") for _ in range(2)]
        for stream, frequency in zip(streams, (440, 1000), strict=True):
            samples = tone(1.5, frequency=frequency).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 24_000, 0
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
    audio = ingest_audio(out.getvalue())
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) * 24_000 / audio.samples.size == pytest.approx(440, abs=2)


def test_the_format_comes_from_the_bytes_not_the_name() -> None:
    assert sniff_format(upload("flac", 1.0)).name == "flac"
    assert sniff_format(b"#EXTM3U\nhttp://example.com/a.mp3\n") is None  # a playlist is no audio
    assert sniff_format(b"ffconcat version 1.0\nfile /etc/passwd\n") is None
    assert sniff_format(b"") is None


def test_the_sniffed_demuxer_is_forced() -> None:
    """MP3 bytes behind a WAV signature are read by the wav demuxer only (and are not a usable WAV)."""
    fake = b"RIFF\x00\x00\x00\x00WAVE" + upload("mp3", 1.5)
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(fake)
    assert caught.value.code == "audio_undecodable"


def test_decoding_stops_just_past_the_duration_cap() -> None:
    """A long stream with no duration in its header (a live WebM) costs no more than cap + 0.5 s to read."""
    long = encode_file(tone(30.0, rate=48_000), muxer="webm", codec="libopus", rate=48_000, seekable=False)
    decoded = decode_upload(long, sniff_format(long), limits=IngestLimits(max_seconds=2.0), param=None)
    assert decoded.size == int(2.5 * 24_000)
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(long, limits=IngestLimits(max_seconds=2.0))
    assert caught.value.code == "audio_too_long"


def test_a_header_that_says_too_long_is_refused_before_decoding() -> None:
    """FLAC's STREAMINFO says 30 s: ``TooLong`` comes from the header (decoding never raises it)."""
    flac = upload("flac", 30.0)
    with pytest.raises(TooLong) as caught:
        decode_audio(flac, sniff_format(flac), max_seconds=10.0, timeout_s=30.0)
    assert caught.value.seconds == pytest.approx(30.0, abs=0.01)
    with pytest.raises(AudioRejected) as rejected:
        ingest_audio(flac, limits=IngestLimits(max_seconds=10.0))
    assert rejected.value.code == "audio_too_long"


def test_decoding_has_a_wall_clock_budget() -> None:
    started = time.monotonic()
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(upload("mp3", 5.0), limits=IngestLimits(decode_timeout_s=1e-6))
    assert caught.value.code == "audio_undecodable" and "longer than" in caught.value.message
    assert time.monotonic() - started < 5.0


def test_the_size_limit_is_checked_before_decoding() -> None:
    """Oversize garbage is a 413 (not a decode error): nothing was decoded."""
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(b"RIFF\0\0\0\0WAVE" + b"\xff" * 2000, limits=IngestLimits(max_upload_bytes=1000))
    assert (caught.value.code, caught.value.status) == ("payload_too_large", 413)


@pytest.mark.parametrize(
    ("data", "limits", "code", "status"),
    [
        (b"", IngestLimits(), "audio_empty", 400),
        (b"RIFF....WAVE" + b"\0" * 100, IngestLimits(max_upload_bytes=50), "payload_too_large", 413),
        (b"\x00\x01garbage", IngestLimits(), "unsupported_audio_format", 415),
        (b"fLaC" + b"\0" * 64, IngestLimits(), "audio_undecodable", 400),
        (b"OggS" + bytes(range(256)) * 8, IngestLimits(), "audio_undecodable", 400),
        (b"\x1a\x45\xdf\xa3" + b"\x42" * 500, IngestLimits(), "audio_undecodable", 400),
        (b"\0\0\0\x18ftypM4A " + b"\x13" * 500, IngestLimits(), "audio_undecodable", 400),
    ],
)
def test_rejections_carry_a_status_and_code(
    data: bytes, limits: IngestLimits, code: str, status: int
) -> None:
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(data, limits=limits, param="file")
    assert (caught.value.code, caught.value.status, caught.value.param) == (code, status, "file")


def test_a_truncated_file_is_undecodable_or_short_never_a_crash() -> None:
    data = upload("m4a", 2.0)
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(data[: len(data) // 3])
    assert caught.value.code in {"audio_undecodable", "audio_too_short"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (upload("wav", 0.5), "audio_too_short"),
        (upload("flac", 2.0, amplitude=0.0), "audio_silent"),
        (upload("ogg", 2.0, amplitude=1e-5), "audio_silent"),
    ],
)
def test_too_short_and_silent_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(data)
    assert (caught.value.code, caught.value.status) == (code, 400)


def test_too_long_is_refused() -> None:
    with pytest.raises(AudioRejected) as caught:
        ingest_audio(upload("mp3", 4.0), limits=IngestLimits(max_seconds=3.0))
    assert caught.value.code == "audio_too_long"


def test_a_container_can_open_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a demuxer that follows references (concat, forced here on purpose) cannot open a file: the
    decoder allows no protocol. Without that the same bytes read the file next door."""
    (tmp_path / "next-door.wav").write_bytes(upload("wav", 1.5))
    monkeypatch.chdir(tmp_path)
    playlist = b"ffconcat version 1.0\nfile next-door.wav\n"
    with av.open(io.BytesIO(playlist), format="concat") as container:  # the control: it would follow
        assert sum(frame.samples for frame in container.decode(container.streams.audio[0])) > 0
    concat = UploadFormat("concat", "concat", "text/plain", "txt", declares_duration=False)
    with pytest.raises(UndecodableAudio):
        decode_audio(playlist, concat, max_seconds=60.0, timeout_s=30.0)
