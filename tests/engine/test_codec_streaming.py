"""Streaming decode: each frame decoded once, and the concatenated steps equal the whole-sequence decode."""

from __future__ import annotations

import itertools

import pytest
import torch

from qwen_tts.codec import CodecConfig, SpeechTokenizer
from qwen_tts.tiny_spec import speech_tokenizer_config
from qwen_tts.tiny_weights import init_weights

NUM_FRAMES = 96  # over the 72-frame attention window


def _uneven_sizes(total: int, pattern: tuple[int, ...]) -> list[int]:
    sizes = []
    for size in itertools.cycle(pattern):
        if sum(sizes) + size >= total:
            return [*sizes, total - sum(sizes)]
        sizes.append(size)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def tokenizer() -> SpeechTokenizer:
    """A tiny decoder with the shared tiny-checkpoint init rules (an audible waveform)."""
    model = SpeechTokenizer(CodecConfig.from_dict(speech_tokenizer_config()), with_encoder=False).eval()
    init_weights(model, seed=0)
    return model


@pytest.fixture(scope="module")
def codes() -> torch.Tensor:
    return torch.randint(0, 64, (2, NUM_FRAMES, 16), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def whole(tokenizer: SpeechTokenizer, codes: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        samples = tokenizer.decoder(codes)  # the one-pass reference
    assert samples.abs().mean() > 1e-2, "near-silent reference: the comparisons would be vacuous"
    return samples


def _stream(tokenizer: SpeechTokenizer, codes: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    state = tokenizer.decoder.init_state(codes.shape[0])
    pieces, start = [], 0
    with torch.inference_mode():
        for size in sizes:
            piece = tokenizer.decoder.decode_step(codes[:, start : start + size], state)
            assert piece.shape == (codes.shape[0], size * 1920)
            pieces.append(piece)
            start += size
    assert start == codes.shape[1] and state.num_frames == start
    return torch.cat(pieces, dim=1)


@pytest.mark.parametrize(
    "sizes",
    [
        [1] * 10 + [NUM_FRAMES - 10],  # single frames from a fresh state, then the rest at once
        _uneven_sizes(NUM_FRAMES, (1, 3, 7)),
        _uneven_sizes(NUM_FRAMES, (5, 1, 2, 11, 40)),
        [73, NUM_FRAMES - 73],  # one step wider than the attention window
        [NUM_FRAMES],
    ],
    ids=["ones-then-rest", "1-3-7", "5-1-2-11-40", "73-rest", "whole"],
)
def test_stream_equals_whole_decode(tokenizer, codes, whole, sizes):
    streamed = _stream(tokenizer, codes, sizes)
    assert streamed.shape == whole.shape == (2, NUM_FRAMES * 1920)
    assert (streamed - whole).abs().max() <= 1e-4


def test_chunked_decode_equals_whole(tokenizer, codes, whole):
    assert (tokenizer.decode(codes, chunk_frames=37) - whole).abs().max() <= 1e-4
    assert (tokenizer.decode(codes) - whole).abs().max() <= 1e-4


def test_interleaved_streams_do_not_interfere(tokenizer, codes, whole):
    states = [tokenizer.decoder.init_state(1), tokenizer.decoder.init_state(1)]
    pieces: list[list[torch.Tensor]] = [[], []]
    with torch.inference_mode():
        for start in range(0, NUM_FRAMES, 24):
            for row in (1, 0):  # alternate the two streams on one decoder
                step = codes[row : row + 1, start : start + 24]
                pieces[row].append(tokenizer.decoder.decode_step(step, states[row]))
    for row in (0, 1):
        assert (torch.cat(pieces[row], dim=1) - whole[row : row + 1]).abs().max() <= 1e-4


def test_past_frames_are_not_changed_by_future_frames(tokenizer, codes, whole):
    """Causality: the decode of a prefix equals the start of the decode of the whole."""
    with torch.inference_mode():
        prefix = tokenizer.decoder(codes[:, :37])
    assert (prefix - whole[:, : 37 * 1920]).abs().max() <= 1e-4


def test_step_with_the_wrong_batch_is_rejected(tokenizer, codes):
    state = tokenizer.decoder.init_state(1)
    with pytest.raises(ValueError, match="batch 1"), torch.inference_mode():
        tokenizer.decoder.decode_step(codes[:, :2], state)
