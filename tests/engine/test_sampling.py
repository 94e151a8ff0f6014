"""Token selection: Hugging Face's processing order and semantics, drawn on the device."""

from __future__ import annotations

import math

import pytest
import torch

from qwen_tts import SamplingParams
from qwen_tts.generation import TalkerLogitsRules, process_talker_logits, suppressed_ids
from qwen_tts.noise import draw_keys, exponential_noise, seed_keys
from qwen_tts.sampling import SamplerTensors, penalize_repetition, sample, warp

CPU = torch.device("cpu")


def _params(rows: int = 1, **values) -> SamplerTensors:
    params = SamplingParams(**{"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, **values})
    return SamplerTensors.build([params] * rows, predictor=False, device=CPU)


def _log(probs) -> torch.Tensor:
    return torch.tensor([[math.log(p) for p in probs]])


def test_temperature_divides_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    torch.testing.assert_close(warp(logits, _params(temperature=0.5)).softmax(-1), (logits / 0.5).softmax(-1))
    sharp = warp(logits, _params(temperature=0.5)).softmax(-1)[0, 0]
    flat = warp(logits, _params(temperature=2.0)).softmax(-1)[0, 0]
    assert sharp > logits.softmax(-1)[0, 0] > flat


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -2.0, 1.5, 0.7]])
    kept = torch.isfinite(warp(logits, _params(top_k=2)))[0].tolist()
    assert kept == [False, True, False, True, False]
    per_row = SamplerTensors.build(  # rows with different k take the sorting path
        [SamplingParams(do_sample=True, temperature=1.0, top_k=k, top_p=1.0) for k in (2, 3)], False, CPU
    )
    kept_per_row = torch.isfinite(warp(logits.expand(2, -1), per_row)).tolist()
    assert kept_per_row == [[False, True, False, True, False], [False, True, False, True, True]]
    assert torch.isfinite(warp(logits, _params(top_k=0))).all()  # 0 disables top-k
    assert torch.isfinite(warp(logits, _params(top_k=99))).all()  # more than the vocabulary keeps all


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = _log([0.05, 0.5, 0.15, 0.3])
    assert torch.isfinite(warp(logits, _params(top_p=0.7)))[0].tolist() == [False, True, False, True]
    assert torch.isfinite(warp(logits, _params(top_p=0.4)))[0].tolist() == [False, True, False, False]
    assert torch.isfinite(warp(logits, _params(top_p=1.0))).all()


def test_temperature_applies_before_top_p():
    logits = _log([0.6, 0.3, 0.1])
    # At temperature 1, top_p=0.8 keeps {0.6, 0.3}; flattened by T=10 the top two no longer reach 0.8.
    assert torch.isfinite(warp(logits, _params(top_p=0.8)))[0].tolist() == [True, True, False]
    assert torch.isfinite(warp(logits, _params(top_p=0.8, temperature=10.0))).all()


def test_draws_follow_the_distribution():
    probs = [0.5, 0.3, 0.15, 0.05]
    rows = 40000
    logits = _log(probs).expand(rows, -1)
    draws = sample(
        logits,
        _params(rows),
        draw_keys(seed_keys(torch.arange(rows)), torch.zeros(rows, dtype=torch.long), 0, 16),
    )
    freq = torch.bincount(draws, minlength=4).float() / rows
    torch.testing.assert_close(freq, torch.tensor(probs), atol=0.01, rtol=0)


def test_same_key_same_draws_and_greedy_ignores_noise():
    logits = torch.randn(64, 100, generator=torch.Generator().manual_seed(1))
    keys = seed_keys(torch.arange(64))
    first = sample(logits, _params(64), keys)
    again = sample(logits, _params(64), keys.clone())
    other = sample(logits, _params(64), keys + 1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    greedy = _params(64, do_sample=False)
    assert torch.equal(sample(logits, greedy, keys), logits.argmax(-1))


def test_a_rows_draw_does_not_depend_on_the_other_rows():
    logits = torch.randn(8, 300, generator=torch.Generator().manual_seed(2))
    keys = seed_keys(torch.arange(8) * 7919)
    together = sample(logits, _params(8), keys)
    alone = torch.cat([sample(logits[i : i + 1], _params(1), keys[i : i + 1]) for i in range(8)])
    assert torch.equal(together, alone)


def test_noise_is_exponential_and_keys_decorrelate():
    frame = torch.arange(2000)
    keys = draw_keys(seed_keys(torch.tensor([42])).expand(2000), frame, 3, 16)
    assert keys.unique().numel() == 2000  # distinct frames, distinct keys
    noise = exponential_noise(keys, 512)
    assert noise.min() > 0 and torch.isfinite(noise).all()
    assert abs(noise.mean().item() - 1.0) < 0.01 and abs(noise.var().item() - 1.0) < 0.02
    # neighbouring frames and token ids are uncorrelated
    assert abs(torch.corrcoef(torch.stack([noise[:-1].flatten(), noise[1:].flatten()]))[0, 1]) < 0.01
    assert abs(torch.corrcoef(torch.stack([noise[:, :-1].flatten(), noise[:, 1:].flatten()]))[0, 1]) < 0.01
    # the high half of a 63-bit seed matters
    assert not torch.equal(seed_keys(torch.tensor([5])), seed_keys(torch.tensor([5 + (1 << 40)])))


def test_rows_sample_independently_with_their_own_parameters():
    logits = torch.tensor([[0.0, 1.0, 2.0]] * 2)
    mixed = SamplerTensors.build(
        [SamplingParams(do_sample=False, temperature=1.0, top_k=0, top_p=1.0),
         SamplingParams(do_sample=True, temperature=1.0, top_k=1, top_p=1.0)],
        predictor=False,
        device=CPU,
    )  # fmt: skip
    assert sample(logits, mixed, seed_keys(torch.arange(2))).tolist() == [2, 2]


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    logits = torch.tensor([[2.0, -2.0, 2.0, -2.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = penalize_repetition(logits, seen, torch.tensor([[2.0]]))
    assert out.tolist() == [[1.0, -4.0, 2.0, -2.0]]


def test_talker_rules_suppress_control_ids_and_block_eos_before_min_frames():
    vocab, eos = 3072, 2150
    rules = TalkerLogitsRules(
        repetition_penalty=torch.tensor([[1.0]]),
        min_new_frames=torch.tensor([2]),
        suppressed=suppressed_ids(vocab, eos, CPU),
        eos_id=eos,
    )
    logits = torch.zeros(1, vocab)
    seen = torch.zeros(1, vocab, dtype=torch.bool)
    early = process_talker_logits(logits, seen, torch.tensor([1]), rules)
    late = process_talker_logits(logits, seen, torch.tensor([2]), rules)
    assert torch.isinf(early[0, vocab - 1024 :]).all() and torch.isfinite(early[0, : vocab - 1024]).all()
    assert torch.isinf(early[0, eos]) and torch.isfinite(late[0, eos])
    assert torch.isinf(late[0, vocab - 1024 :]).sum() == 1023


@pytest.mark.parametrize(
    "bad",
    [dict(temperature=0.0), dict(top_k=-1), dict(top_p=0.0), dict(top_p=1.5), dict(repetition_penalty=0.0),
     dict(subtalker_temperature=-1.0)],
)  # fmt: skip
def test_invalid_sampling_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        SamplingParams(**bad)


# Key 1944 hashes token 3067 to the top of the 24-bit grid, (2^24 - 1 + 0.5) * 2^-24, which rounds to 1.0 in
# float32: before the fix its noise was -log(1) = 0 and a removed token scored 0/0 = NaN, which argmax picks.
EDGE_KEY, EDGE_TOKEN = 1944, 3067


def test_the_top_of_the_noise_grid_is_not_zero_noise():
    from qwen_tts.noise import _GOLDEN, mix32

    token = mix32(torch.tensor([EDGE_TOKEN]) * _GOLDEN)
    assert (mix32(torch.tensor([EDGE_KEY]) ^ token) >> 8).item() == (1 << 24) - 1  # the edge case itself
    noise = exponential_noise(torch.tensor([EDGE_KEY]), 3072)
    assert noise[0, EDGE_TOKEN] > 0 and noise.min() > 0


def test_a_suppressed_control_id_is_never_drawn_even_at_the_noise_grid_edge():
    """Issue 19: a frame that started with a control id (>= the codebook) crashed the codec decoder."""
    vocab, eos = 3072, 2150
    rules = TalkerLogitsRules(
        torch.ones(1, 1), torch.zeros(1, dtype=torch.long), suppressed_ids(vocab, eos, CPU), eos
    )
    logits = process_talker_logits(
        torch.randn(1, vocab),
        torch.zeros(1, vocab, dtype=torch.bool),
        torch.zeros(1, dtype=torch.long),
        rules,
    )
    for values in ({}, {"top_k": 50}, {"top_p": 0.8}):
        drawn = sample(logits, _params(**values), torch.tensor([EDGE_KEY])).item()
        assert drawn < 2048 or drawn == eos, (values, drawn)
