"""A property of the batched path (issue 19): whatever the order of joins, leaves (a stream closed mid-way)
and end-of-speech frames across the rows, the codec decoder is only ever handed codes inside its codebook.

Random schedules on the tiny engine, whose EOS output row is made a slightly larger copy of a frequent
code's (random weights alone rarely end), so rows end by themselves at random frames too."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from qwen_tts import SamplingParams, SynthesisRequest, TTSEngine

ROWS = 3
SCHEDULES = 2
ACTIONS = 25


@pytest.fixture(scope="module")
def engine(tiny_checkpoint) -> TTSEngine:
    engine = TTSEngine.from_pretrained(
        tiny_checkpoint("custom_voice_1b7"), max_seq_len=256, max_batch_size=ROWS
    )
    probe = SynthesisRequest(text="A probe of the usual codes.", speaker=engine.speakers[0], seed=7)
    values, counts = np.unique(engine.synthesize(probe).codes[:, 0], return_counts=True)
    frequent = int(values[np.argsort(counts, kind="stable")[-2]])
    head = engine.model.talker.codec_head.weight
    with torch.no_grad():
        head[engine.config.talker.codec_eos_token_id] = head[frequent] * 1.02
    return engine


def _checked(engine: TTSEngine, seen: list[int]) -> None:
    """Wrap the decoder's entry points: every code it is given must lie in [0, codebook_size)."""
    decoder = engine._batch.codec_decoder
    size = decoder.config.codebook_size if hasattr(decoder, "config") else 2048
    many, one = decoder.decode_many, decoder.decode_step

    def check(codes: torch.Tensor) -> None:
        seen.append(int(codes.numel()))
        low, high = int(codes.min()), int(codes.max())
        assert low >= 0 and high < size, f"codes in [{low}, {high}] reach a codebook of {size}"

    def decode_many(codes, states):
        for block in codes:
            check(block)
        return many(codes, states)

    def decode_step(codes, state):
        check(codes)
        return one(codes, state)

    decoder.decode_many, decoder.decode_step = decode_many, decode_step


@pytest.mark.parametrize("seed", range(SCHEDULES))
def test_random_joins_leaves_and_endings_never_hand_the_decoder_an_out_of_range_code(
    engine: TTSEngine, seed: int
) -> None:
    rng = random.Random(seed)
    decoded: list[int] = []
    _checked(engine, decoded)
    streams: list = []
    ended = 0
    for _ in range(ACTIONS):
        action = rng.random()
        if action < 0.3 or not streams:  # join
            request = SynthesisRequest(
                text="Words " * rng.randint(1, 6),
                speaker=rng.choice(engine.speakers),
                sampling=SamplingParams(temperature=rng.choice([0.7, 1.0, 1.3]), top_k=rng.choice([0, 20])),
                max_new_frames=rng.randint(1, 12),
                min_new_frames=rng.choice([0, 0, 2]),
                seed=rng.randrange(1 << 30),
            )
            streams.append(engine.stream(request))
        elif action < 0.4:  # leave mid-way
            streams.pop(rng.randrange(len(streams))).close()
        else:  # advance one stream by a chunk
            index = rng.randrange(len(streams))
            chunk = next(streams[index], None)
            if chunk is None or chunk.is_last:
                streams.pop(index).close()
                ended += 1
            else:
                assert chunk.codes.size == 0 or int(chunk.codes[:, 0].max()) < 2048 + 1024
    for stream in streams:
        for _chunk in stream:
            pass
    assert decoded, "nothing was decoded"
    assert engine._batch.num_live == 0
