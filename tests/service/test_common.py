"""Pure pieces shared by web and workers: text splitting, seam joining, atempo chains, the WAV header."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from common.audio import wav_header
from common.encoder import atempo_chain, ffmpeg_command
from common.seams import SeamJoiner
from common.text import normalize_input, split_pieces, split_sentences


def test_normalize_collapses_spaces_keeps_lines_and_drops_controls() -> None:
    assert (
        normalize_input("  Hello\u00a0\u00a0 world \x00!\r\n\n\n  Next\tline ") == "Hello world !\nNext line"
    )
    assert normalize_input("e\u0301") == "\u00e9"  # NFC
    assert normalize_input(" \n\t ") == ""


def test_sentences_split_on_latin_and_cjk_punctuation_but_not_decimals() -> None:
    text = "Pi is 3.14 today. Really? Yes! 你好。我很好！日本語です？ 끝."
    assert split_sentences(text) == [
        "Pi is 3.14 today.",
        "Really?",
        "Yes!",
        "你好。",
        "我很好！",
        "日本語です？",
        "끝.",
    ]


def test_pieces_pack_sentences_in_order_within_the_limit() -> None:
    sentences = [f"Sentence {i} is here." for i in range(30)]
    pieces = split_pieces(" ".join(sentences), max_chars=60)
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces) == " ".join(sentences)
    assert all(p.endswith(".") for p in pieces)  # never cut inside a sentence that fits


def test_an_overlong_sentence_breaks_at_a_clause_then_a_space() -> None:
    clause = "word " * 10 + "then a comma, " + "more words here " * 6
    pieces = split_pieces(clause, max_chars=80)
    assert pieces[0].endswith(",") and all(len(p) <= 80 for p in pieces)
    unbroken = "x" * 100
    assert split_pieces(unbroken, max_chars=40) == ["x" * 40, "x" * 40, "x" * 20]
    cjk = "这是一个很长的句子，" * 6 + "结束。"
    assert "".join(split_pieces(cjk, max_chars=25)) == cjk


def _join(pieces: list[np.ndarray], chunk: int, **kw: float) -> np.ndarray:
    joiner = SeamJoiner(**kw)
    out = []
    for i, piece in enumerate(pieces):
        out.append(joiner.start_piece())
        for start in range(0, piece.size, chunk):
            out.append(joiner.feed(piece[start : start + chunk]))
        out.append(joiner.end_piece(is_last=i == len(pieces) - 1))
    return np.concatenate(out)


def test_seam_joiner_fades_pieces_into_a_pause_and_keeps_their_insides() -> None:
    loud = [np.full(4800, 0.5, dtype=np.float32), np.full(3000, -0.5, dtype=np.float32)]
    joined = _join(loud, chunk=700, fade_ms=10, pause_ms=100)
    fade, pause = 240, 2400
    assert joined.size == 4800 + pause + 3000
    assert np.max(np.abs(np.diff(joined))) < 0.5 * math.pi / fade  # a raised cosine, no step anywhere
    np.testing.assert_array_equal(joined[: 4800 - fade], 0.5)  # untouched inside
    np.testing.assert_array_equal(joined[4800 : 4800 + pause], 0.0)
    np.testing.assert_array_equal(joined[-3000 + fade :], -0.5)  # the last piece's end is not faded


def test_seam_joiner_passes_a_single_piece_through_exactly() -> None:
    piece = np.random.default_rng(0).uniform(-1, 1, 5000).astype(np.float32)
    np.testing.assert_array_equal(_join([piece], chunk=333), piece)


@pytest.mark.parametrize("speed", [0.25, 0.3, 0.5, 0.9, 1.5, 2.0, 3.0, 4.0])
def test_atempo_chain_multiplies_to_the_speed_with_stages_in_range(speed: float) -> None:
    factors = [float(stage.split("=")[1]) for stage in atempo_chain(speed)]
    assert math.prod(factors) == pytest.approx(speed, rel=1e-5)
    assert all(0.5 <= f <= 2.0 for f in factors)


@pytest.mark.parametrize("speed", [0.2, 4.01, 0.0])
def test_atempo_chain_refuses_out_of_range(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        atempo_chain(speed)


def test_ffmpeg_command_reads_pcm_from_stdin_and_never_touches_the_network() -> None:
    cmd = ffmpeg_command("mp3", 1.0)
    assert cmd[cmd.index("-i") + 1] == "pipe:0" and cmd[-1] == "pipe:1" and "-nostdin" in cmd
    assert (
        "-af" not in cmd
        and "atempo=2" in ffmpeg_command("pcm", 4.0)[ffmpeg_command("pcm", 4.0).index("-af") + 1]
    )


def test_wav_header_fields() -> None:
    header = wav_header(48_000)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    riff, fmt_size, pcm, channels, rate, byte_rate, align, bits = struct.unpack("<I4x4xIHHIIHH", header[4:36])
    assert (riff, fmt_size, pcm, channels, rate, byte_rate, align, bits) == (
        48_036,
        16,
        1,
        1,
        24_000,
        48_000,
        2,
        16,
    )
    assert struct.unpack("<I", header[40:44])[0] == 48_000
    assert wav_header(None)[4:8] == b"\xff\xff\xff\xff"


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_encoded_output_flows_before_the_input_ends(fmt: str) -> None:
    """A streaming encoder: bytes come out while PCM is still going in (not at end of input)."""
    import asyncio
    import time

    from common.audio import float_to_s16le
    from common.encoder import Encoders, encode_stream

    chunk = float_to_s16le(0.3 * np.sin(np.arange(7680, dtype=np.float32) / 7))  # 320 ms

    async def run() -> tuple[float, float]:
        encoders = Encoders(warm=(fmt,))
        await encoders.start()
        await asyncio.sleep(0.5)  # let the warm process finish starting
        fed_last_at = 0.0

        async def pcm():  # 12 × 320 ms, paced at 50 ms per chunk
            nonlocal fed_last_at
            for _ in range(12):
                yield chunk
                await asyncio.sleep(0.05)
            fed_last_at = time.perf_counter()

        first_out_at = None
        async for _ in encode_stream(pcm(), fmt, encoders=encoders):
            first_out_at = first_out_at or time.perf_counter()
        await encoders.close()
        assert first_out_at is not None
        return first_out_at, fed_last_at

    first_out_at, fed_last_at = asyncio.run(run())
    assert first_out_at < fed_last_at - 0.2
