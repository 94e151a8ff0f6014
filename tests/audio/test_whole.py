"""Whole files: each format decodes to the PCM's length, with the exact headers players and tools read."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.audio.whole import ChapterMark, encode_bytes, encode_file
from common.errors import EncodingFailed
from tests.audio.decoded import chapters, decode, dominant_hz, ogg_pages, probe
from tests.audio.samples import s16le, tone

SECONDS = 2.345  # not a whole number of any codec's frames
PCM = s16le(tone(SECONDS))
NUM_SAMPLES = len(PCM) // 2
BLOCKS = [PCM[i : i + 3841] for i in range(0, len(PCM), 3841)]  # odd sizes: samples split across blocks
CODEC = {"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac", "wav": "pcm_s16le", "m4a": "aac"}
FRAME = {"mp3": 1152, "opus": 960, "aac": 1024, "flac": 4608, "wav": 1, "m4a": 1024}  # samples at 24 kHz


@pytest.mark.parametrize("fmt", list(CODEC))
def test_whole_file_decodes_to_the_pcm_length_within_one_frame(fmt: str) -> None:
    data = encode_bytes(BLOCKS, fmt)
    info = probe(data)
    assert (info["codec_name"], info["channels"]) == (CODEC[fmt], 1)
    assert info["sample_rate"] == (48_000 if fmt == "opus" else 24_000)
    decoded = decode(data)
    # ADTS has no container to carry the encoder's priming: one frame at the start, padding at the end
    slack = 2 * FRAME[fmt] if fmt == "aac" else FRAME[fmt]
    assert abs(decoded.size - NUM_SAMPLES) <= slack
    assert dominant_hz(decoded) == pytest.approx(440, abs=3)


def test_pcm_whole_is_the_input() -> None:
    assert encode_bytes(BLOCKS, "pcm") == PCM


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_soundfile_reads_the_exact_length(fmt: str) -> None:
    data = encode_bytes(BLOCKS, fmt)
    with sf.SoundFile(io.BytesIO(data)) as f:
        assert (f.samplerate, f.channels) == (24_000, 1)
        assert f.frames == NUM_SAMPLES
        assert abs(len(f.read()) - NUM_SAMPLES) <= FRAME[fmt]


def test_wav_has_the_exact_sizes() -> None:
    data = encode_bytes(BLOCKS, "wav")
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert struct.unpack("<I", data[40:44])[0] == len(data) - 44 == len(PCM)


def test_mp3_has_an_info_header_with_the_frame_count_and_gapless_trims() -> None:
    data = encode_bytes(BLOCKS, "mp3")
    first_frame = 10 + _id3_size(data) if data[:3] == b"ID3" else 0
    assert data[first_frame] == 0xFF and data[first_frame + 1] & 0xE0 == 0xE0  # a frame sync
    frame = data[first_frame : first_frame + 200]
    tag_at = first_frame + max(frame.find(b"Info"), frame.find(b"Xing"))  # Info: the CBR spelling
    assert tag_at > first_frame
    flags = struct.unpack(">I", data[tag_at + 4 : tag_at + 8])[0]
    assert flags & 0x0F == 0x0F  # frame count, byte count, seek table, quality
    frames = struct.unpack(">I", data[tag_at + 8 : tag_at + 12])[0]
    lame = data[tag_at + 120 : tag_at + 156]  # the LAME extension (encoder "Lavf"): delay and padding
    delay_padding = int.from_bytes(lame[21:24], "big")
    delay, padding = delay_padding >> 12, delay_padding & 0xFFF
    # MPEG-2 layer III: 576 samples per frame at 24 kHz; the gapless fields trim exactly to the PCM
    assert frames * 576 - delay - padding == NUM_SAMPLES
    assert decode(data).size == NUM_SAMPLES


def _id3_size(data: bytes) -> int:
    return (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]


def test_flac_streaminfo_has_the_total_samples() -> None:
    data = encode_bytes(BLOCKS, "flac")
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # the first metadata block is STREAMINFO
    info = data[8:42]
    total = int.from_bytes(info[13:18], "big") & ((1 << 36) - 1)
    rate = int.from_bytes(info[10:13], "big") >> 4
    assert (total, rate) == (NUM_SAMPLES, 24_000)


def test_opus_has_the_pre_skip_and_a_final_granule_that_trims_the_padding() -> None:
    data = encode_bytes(BLOCKS, "opus")
    head = data.find(b"OpusHead")
    pre_skip = struct.unpack("<H", data[head + 10 : head + 12])[0]
    assert pre_skip == 312  # libopus's look-ahead at 48 kHz
    pages = ogg_pages(data)
    header_type, final_granule = pages[-1]
    assert header_type & 0x04  # end of stream
    assert final_granule - pre_skip == NUM_SAMPLES * 2  # 48 kHz granules: exactly the PCM, padding trimmed
    assert decode(data).size == NUM_SAMPLES


def test_m4b_has_chapters_with_titles_and_times(tmp_path: Path) -> None:
    marks = [ChapterMark("Opening", 0.0, 1.2), ChapterMark("Zweites Kapitel — ü", 1.2, SECONDS)]
    path = tmp_path / "book.m4b"
    encode_file(BLOCKS, "m4b", path, chapters=marks)
    data = path.read_bytes()
    assert probe(data)["codec_name"] == "aac"
    read_back = chapters(data)
    assert [c["title"] for c in read_back] == [m.title for m in marks]
    times = [(c["start_s"], c["end_s"]) for c in read_back]
    assert times == [pytest.approx((m.start_s, m.end_s), abs=0.001) for m in marks]
    assert data.find(b"moov") < data.find(b"mdat")  # the index first: playback starts during the download
    assert abs(decode(data).size - NUM_SAMPLES) <= 1024


def test_chapters_need_an_mp4_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MP4"):
        encode_file(BLOCKS, "mp3", tmp_path / "a.mp3", chapters=[ChapterMark("A", 0, 1)])


def test_empty_input_is_no_error() -> None:
    for fmt in ("mp3", "opus", "aac", "m4a", "pcm"):
        encode_bytes([], fmt)
    for fmt in ("flac", "wav"):  # these two also read back as a valid file with no samples
        assert probe(encode_bytes([], fmt))["num_samples"] == 0, fmt


def test_an_encoder_failure_is_encoding_failed(tmp_path: Path) -> None:
    with pytest.raises(EncodingFailed, match="flac") as caught:
        encode_file(BLOCKS, "flac", tmp_path / "missing-dir" / "a.flac")
    assert caught.value.__cause__ is not None
    assert caught.value.status == 500 and caught.value.code == "encoding_failed"


def test_a_failing_source_leaves_no_half_written_encoder() -> None:
    def blocks():
        yield PCM[:4000]
        raise RuntimeError("synthesis failed")

    with pytest.raises(RuntimeError, match="synthesis failed"):
        encode_bytes(blocks(), "mp3")


def test_speed_changes_the_length_not_the_pitch() -> None:
    for fmt, speed in [("wav", 2.0), ("mp3", 0.5), ("flac", 0.25), ("opus", 4.0), ("m4a", 1.5)]:
        decoded = decode(encode_bytes(BLOCKS, fmt, speed=speed))
        assert decoded.size / NUM_SAMPLES == pytest.approx(1 / speed, rel=0.04), (fmt, speed)
        assert dominant_hz(decoded) == pytest.approx(440, rel=0.02), (fmt, speed)


def test_pcm_at_a_speed_is_raw_s16le() -> None:
    raw = encode_bytes(BLOCKS, "pcm", speed=2.0)
    samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    assert samples.size / NUM_SAMPLES == pytest.approx(0.5, rel=0.04)
    assert dominant_hz(samples) == pytest.approx(440, rel=0.02)
