"""Batched streaming decode: ``decode_many`` over streams at different frames equals each stream alone.

Exactness is checked in float64, where batching changes nothing but rounding (about 1e-15): in float32 a
different batch size alone changes the samples by a few 1e-5 (as for ``init_state(4)`` against
``init_state(1)``), so float32 is checked at the streaming tests' 1e-4. A decoder with an 8-frame attention
window makes streams cross the window in a few frames; one float32 case crosses the released window of 72.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from qwen_tts.codec import CodecConfig, CodecDecoder, SpeechTokenizer, StreamState
from qwen_tts.tiny_spec import speech_tokenizer_config
from qwen_tts.tiny_weights import init_weights

SMALL_WINDOW = 8  # keep = 7 past frames


def _decoder(sliding_window: int | None, dtype: torch.dtype) -> CodecDecoder:
    raw = speech_tokenizer_config()
    if sliding_window is not None:
        raw["decoder_config"]["sliding_window"] = sliding_window
    model = SpeechTokenizer(CodecConfig.from_dict(raw), with_encoder=False).eval()
    init_weights(model, seed=0)
    return model.decoder.to(dtype)


@pytest.fixture(scope="module")
def decoder() -> CodecDecoder:
    decoder = _decoder(SMALL_WINDOW, torch.float64)
    assert decoder.config.transformer.sliding_window == SMALL_WINDOW
    return decoder


@dataclass
class Stream:
    """One stream decoded twice: ``alone`` only by ``decode_step``, ``batched`` by ``decode_many`` too."""

    codes: torch.Tensor  # [1, N, 16]
    alone: StreamState
    batched: StreamState
    position: int = 0
    pieces: list[torch.Tensor] = field(default_factory=list)


def _stream(decoder: CodecDecoder, seed: int, prefix: int, num_frames: int = 64) -> Stream:
    codes = torch.randint(0, 64, (1, num_frames, 16), generator=torch.Generator().manual_seed(seed))
    stream = Stream(codes, decoder.init_state(1), decoder.init_state(1))
    if prefix:
        _step_alone(decoder, stream, prefix, both=True)
    return stream


def _step_alone(decoder: CodecDecoder, stream: Stream, size: int, both: bool = False) -> None:
    """Decodes ``size`` frames of ``stream`` alone; with ``both`` also on its batched-side state."""
    block = stream.codes[:, stream.position : stream.position + size]
    expected = decoder.decode_step(block, stream.alone)
    if both:
        got = decoder.decode_step(block, stream.batched)
        assert torch.equal(got, expected)
    stream.pieces.append(expected)
    stream.position += size


def _round(decoder: CodecDecoder, streams: list[Stream], size: int, atol: float) -> None:
    """One decode_many over all streams, checked against each stream decoded alone."""
    blocks = [s.codes[:, s.position : s.position + size] for s in streams]
    got = decoder.decode_many(blocks, [s.batched for s in streams])
    assert len(got) == len(streams)
    for stream, block, samples in zip(streams, blocks, got, strict=True):
        expected = decoder.decode_step(block, stream.alone)
        assert samples.shape == expected.shape == (1, size * 1920)
        assert (samples - expected).abs().max() <= atol
        _assert_same_state(stream.batched, stream.alone, atol)
        stream.position += size


def _assert_same_state(got: StreamState, expected: StreamState, atol: float) -> None:
    assert got.batch == expected.batch == 1
    assert got.num_frames == expected.num_frames
    for mine, theirs in zip(got.kv, expected.kv, strict=True):
        assert mine.length == theirs.length == min(expected.num_frames, mine.keep)
        assert mine.k is not None and theirs.k is not None and mine.v is not None and theirs.v is not None
        assert (mine.k - theirs.k).abs().max() <= atol and (mine.v - theirs.v).abs().max() <= atol


def _continue_alone(decoder: CodecDecoder, streams: list[Stream], size: int, atol: float) -> None:
    """Each batched-side state, continued alone, decodes as the never-batched state does."""
    for stream in streams:
        block = stream.codes[:, stream.position : stream.position + size]
        got = decoder.decode_step(block, stream.batched)
        expected = decoder.decode_step(block, stream.alone)
        assert (got - expected).abs().max() <= atol
        stream.position += size


@pytest.mark.parametrize(("size", "num_rounds"), [(1, 5), (4, 3)], ids=["t=1", "t=4"])
def test_streams_at_different_frames_decode_together_as_alone(decoder, size, num_rounds):
    # A first step, a young stream, one about to cross the 7-frame window, one past it.
    streams = [_stream(decoder, seed, prefix) for seed, prefix in enumerate((0, 2, 5, 11))]
    for index in range(num_rounds):
        if index == 1:
            streams.append(_stream(decoder, seed=10, prefix=0))  # joins on its first step
        _round(decoder, streams, size, atol=1e-10)
    assert [s.position for s in streams[:4]] == [p + num_rounds * size for p in (0, 2, 5, 11)]
    _continue_alone(decoder, streams, size=3, atol=1e-10)


def test_rounds_of_uneven_membership(decoder):
    """Streams enter and leave the batched call from round to round, between steps alone."""
    streams = [_stream(decoder, seed, prefix) for seed, prefix in enumerate((0, 9, 3))]
    _round(decoder, streams[:2], size=2, atol=1e-10)
    _step_alone(decoder, streams[2], 1, both=True)
    _round(decoder, streams[1:], size=3, atol=1e-10)
    _round(decoder, [streams[2], streams[0]], size=4, atol=1e-10)  # any order
    _continue_alone(decoder, streams, size=2, atol=1e-10)


def test_one_stream_is_decode_step(decoder):
    stream = _stream(decoder, seed=3, prefix=4)
    _round(decoder, [stream], size=4, atol=0.0)
    _round(decoder, [stream], size=1, atol=0.0)


def test_a_multi_row_state_stacks_with_single_streams(decoder):
    codes = torch.randint(0, 64, (2, 12, 16), generator=torch.Generator().manual_seed(5))
    pair, pair_alone = decoder.init_state(2), decoder.init_state(2)
    decoder.decode_step(codes[:, :9], pair)
    decoder.decode_step(codes[:, :9], pair_alone)
    single = _stream(decoder, seed=6, prefix=1)
    got = decoder.decode_many([codes[:, 9:12], single.codes[:, 1:4]], [pair, single.batched])
    assert got[0].shape == (2, 3 * 1920) and got[1].shape == (1, 3 * 1920)
    assert (got[0] - decoder.decode_step(codes[:, 9:12], pair_alone)).abs().max() <= 1e-10
    assert (got[1] - decoder.decode_step(single.codes[:, 1:4], single.alone)).abs().max() <= 1e-10
    assert pair.num_frames == 12 and single.batched.num_frames == 4


def test_float32_crosses_the_released_window():
    decoder = _decoder(None, torch.float32)
    keep = decoder.config.transformer.sliding_window - 1
    streams = [_stream(decoder, seed, prefix, num_frames=96) for seed, prefix in enumerate((0, keep - 2, 80))]
    _round(decoder, streams, size=4, atol=1e-4)
    assert streams[1].batched.kv[0].length == keep
    _continue_alone(decoder, streams, size=2, atol=1e-4)


def test_batched_states_own_their_tensors(decoder):
    streams = [_stream(decoder, seed, prefix) for seed, prefix in enumerate((0, 3))]
    _round(decoder, streams, size=2, atol=1e-10)
    for stream in streams:
        tensors = [w.k for w in stream.batched.kv] + list(stream.batched._history.values())
        assert all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in tensors)


def test_mismatched_frame_counts_are_rejected(decoder):
    a, b = decoder.init_state(1), decoder.init_state(1)
    codes = torch.zeros(1, 4, 16, dtype=torch.long)
    with pytest.raises(ValueError, match="same number of new frames"):
        decoder.decode_many([codes, codes[:, :3]], [a, b])
    with pytest.raises(ValueError, match="batch 1"):
        decoder.decode_many([codes, codes.expand(2, -1, -1)], [a, b])
    with pytest.raises(ValueError, match="more than once"):
        decoder.decode_many([codes, codes], [a, a])
    with pytest.raises(ValueError, match="2 code blocks for 1"):
        decoder.decode_many([codes, codes], [a])
    assert a.num_frames == b.num_frames == 0  # nothing was decoded


def test_empty_calls(decoder):
    assert decoder.decode_many([], []) == []
    a, b = decoder.init_state(1), decoder.init_state(1)
    empty = torch.zeros(1, 0, 16, dtype=torch.long)
    assert [x.shape for x in decoder.decode_many([empty, empty], [a, b])] == [(1, 0), (1, 0)]
    assert a.num_frames == b.num_frames == 0
