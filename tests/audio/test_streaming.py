"""Streaming encoders: each piece is decodable as it arrives, a whole stream has the PCM's length and pitch,
and the async entry points keep the event loop free."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
import soundfile as sf

from common.audio.aio import encode_stream, encode_whole
from common.audio.streaming import StreamEncoder
from tests.audio.decoded import decode, decodes_alone, dominant_hz, ogg_end, ogg_pages, probe
from tests.audio.samples import s16le, tone

CHUNK = 1920 * 2  # one codec frame of the engine (80 ms) of s16le
PCM = s16le(tone(2.345))
NUM_SAMPLES = len(PCM) // 2
CHUNKS = [PCM[i : i + CHUNK] for i in range(0, len(PCM), CHUNK)]
CODEC = {"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac", "wav": "pcm_s16le"}
# a stream has no header to carry the codec's start delay and end padding: up to a frame at each end
SLACK = {"mp3": 2 * 1152, "opus": 0, "aac": 2 * 1024, "flac": 0, "wav": 0, "pcm": 0}


def streamed(fmt: str, chunks: list[bytes] = CHUNKS, *, speed: float = 1.0) -> list[bytes]:
    encoder = StreamEncoder(fmt, speed=speed)
    return [encoder.write(chunk) for chunk in chunks] + [encoder.finish()]


@pytest.mark.parametrize("fmt", [*CODEC, "pcm"])
def test_a_stream_decodes_to_the_pcm_length_and_pitch(fmt: str) -> None:
    data = b"".join(streamed(fmt))
    if fmt == "pcm":
        assert data == PCM
        return
    info = probe(data)
    assert (info["codec_name"], info["channels"]) == (CODEC[fmt], 1)
    decoded = decode(data)
    assert abs(decoded.size - NUM_SAMPLES) <= SLACK[fmt]
    assert dominant_hz(decoded) == pytest.approx(440, abs=3)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus"])
def test_soundfile_reads_a_stream(fmt: str) -> None:
    samples, rate = sf.read(io.BytesIO(b"".join(streamed(fmt))), dtype="float32")
    assert rate == 24_000 and abs(samples.size - NUM_SAMPLES) <= SLACK[fmt]


def test_a_streamed_wav_has_the_streaming_sizes() -> None:
    data = b"".join(streamed("wav"))
    assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff" and data[40:44] == b"\xff\xff\xff\xff"
    assert data[44:] == PCM


@pytest.mark.parametrize("fmt", ["opus", "flac", "wav", "pcm"])
def test_the_first_80ms_chunk_gives_audio_at_once(fmt: str) -> None:
    encoder = StreamEncoder(fmt)
    first = encoder.write(CHUNKS[0])
    encoder.close()
    assert first
    if fmt != "pcm":
        assert decodes_alone(first, fmt) > 0  # real audio, not just a header


@pytest.mark.parametrize("fmt", ["mp3", "aac"])
def test_codecs_with_look_ahead_give_audio_from_the_second_chunk(fmt: str) -> None:
    """MP3's first frame is its priming; AAC's first packet needs 2048 samples (a frame plus look-ahead)."""
    pieces = streamed(fmt, CHUNKS[:2])
    assert decodes_alone(pieces[0] + pieces[1], fmt) > 0


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_every_prefix_of_a_stream_decodes_and_grows(fmt: str) -> None:
    pieces = streamed(fmt)
    decoded = [decodes_alone(b"".join(pieces[: n + 1]), fmt) for n in range(len(pieces))]
    assert decoded[len(pieces) // 2] > 0  # audio well before the end of input
    assert all(b >= a for a, b in itertools.pairwise(decoded))  # never lost, always growing
    assert decoded[-2] < decoded[-1] or fmt == "wav"  # the tail arrives at finish


def test_ogg_pages_leave_as_each_opus_packet_is_made() -> None:
    pieces = streamed("opus")
    for n in range(1, len(pieces)):
        prefix = b"".join(pieces[:n])
        pages, end = ogg_pages(prefix), ogg_end(prefix)
        assert pages and end == len(prefix)  # whole pages only: nothing half-written waits in a buffer
        assert all(g2 >= g1 for (_, g1), (_, g2) in itertools.pairwise(pages[2:]))
    granules = [g for _, g in ogg_pages(b"".join(pieces[:5]))[2:]]  # after OpusHead and OpusTags
    assert len(granules) >= 4 * CHUNK // 2 // 480  # about one page per 20 ms packet (960 at 48 kHz)
    assert ogg_pages(b"".join(pieces))[-1][0] & 0x04  # the last page ends the stream


def test_speed_in_a_stream_changes_length_not_pitch() -> None:
    for fmt, speed in [("pcm", 4.0), ("mp3", 0.5), ("opus", 2.0), ("wav", 0.25)]:
        data = b"".join(streamed(fmt, speed=speed))
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768 if fmt == "pcm" else decode(data)
        assert samples.size / NUM_SAMPLES == pytest.approx(1 / speed, rel=0.05), (fmt, speed)
        assert dominant_hz(samples) == pytest.approx(440, rel=0.02), (fmt, speed)


def test_an_abandoned_stream_can_be_closed_at_any_point() -> None:
    encoder = StreamEncoder("opus")
    encoder.write(CHUNKS[0])
    encoder.close()
    encoder.close()
    with pytest.raises(RuntimeError):
        encoder.write(CHUNKS[1])


async def _paced(chunks: list[bytes], delay_s: float = 0.0) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(delay_s)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_encoded_output_flows_before_the_input_ends(fmt: str) -> None:
    async def run() -> tuple[float, float]:
        first_out_at = None
        async for _ in encode_stream(_paced(CHUNKS[:12], 0.05), fmt):
            first_out_at = first_out_at or time.perf_counter()
        assert first_out_at is not None
        return first_out_at, time.perf_counter()

    first_out_at, ended_at = asyncio.run(run())
    assert first_out_at < ended_at - 0.3


def test_encoding_runs_off_the_event_loop() -> None:
    """A 60 s whole body and a stream are encoded while a 5 ms ticker keeps its pace."""
    long = [s16le(tone(0.5, frequency=300 + n)) for n in range(120)]

    async def run() -> float:
        gaps, last = [], time.perf_counter()
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal last
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        body = await encode_whole(_paced(long), "mp3")
        streamed_bytes = [data async for data in encode_stream(_paced(long[:40]), "opus")]
        done.set()
        await tick
        assert body and streamed_bytes
        return max(gaps)

    assert asyncio.run(run()) < 0.25


def test_a_cancelled_stream_releases_its_encoder() -> None:
    async def run() -> None:
        stream = encode_stream(_paced(CHUNKS, 0.01), "flac")
        assert await anext(stream)
        await stream.aclose()

    asyncio.run(run())
