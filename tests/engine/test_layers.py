"""The shared transformer pieces: static cache == full recompute, M-RoPE, masks, GQA, fused projections."""

import dataclasses

import numpy as np
import pytest
import torch

from qwen_tts import SamplingParams, SynthesisRequest, TTSEngine
from qwen_tts.layers import (
    RotaryEmbedding,
    Transformer,
    TransformerSpec,
    apply_rotary,
    attention_mask,
)
from qwen_tts.layers.fusion import fuse_projections

SPEC = TransformerSpec(
    hidden_size=32,
    intermediate_size=48,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=8,
    qk_norm=True,
    mrope_section=(1, 1, 2),
    mrope_interleaved=True,
)


def _randomized(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.eval()


@pytest.mark.parametrize("sliding_window", [None, 3])
def test_static_cache_decode_equals_full_recompute(sliding_window):
    torch.manual_seed(0)
    spec = dataclasses.replace(SPEC, sliding_window=sliding_window)
    model = _randomized(Transformer(spec))
    x = torch.randn(2, 9, spec.hidden_size)
    pos = torch.arange(9).expand(2, -1)
    reference = model(x, pos)  # no cache: attends over its own input

    caches = model.new_caches(batch=2, max_len=6)
    out = [model(x[:, :5], pos[:, :5], caches)]  # prefill
    for t in range(5, 9):  # one token at a time
        if t == 6:  # a request outgrowing its cache keeps what it has
            for cache in caches:
                cache.resize(16)
        out.append(model(x[:, t : t + 1], pos[:, t : t + 1], caches))
    torch.testing.assert_close(torch.cat(out, dim=1), reference, atol=1e-5, rtol=1e-5)


def test_mrope_with_identical_streams_is_plain_rope():
    rope = RotaryEmbedding(16, 10000.0, mrope_section=(2, 3, 3), interleaved=True)
    pos = torch.randint(0, 100, (2, 7))
    cos1, sin1 = rope(pos, torch.float32)
    cos3, sin3 = rope(pos.expand(3, -1, -1), torch.float32)
    assert torch.equal(cos1, cos3) and torch.equal(sin1, sin3)


@pytest.mark.parametrize("interleaved", [True, False])
def test_mrope_assigns_frequencies_to_streams(interleaved):
    rope = RotaryEmbedding(12, 10000.0, mrope_section=(2, 2, 2), interleaved=interleaved)
    pos = torch.stack([torch.full((1, 1), 5), torch.full((1, 1), 7), torch.full((1, 1), 11)])  # [3, 1, 1]
    cos, _ = rope(pos, torch.float32)
    expected_stream = [0, 1, 2, 0, 1, 2] if interleaved else [0, 0, 1, 1, 2, 2]
    for j, stream in enumerate(expected_stream):
        angle = torch.tensor([5.0, 7.0, 11.0])[stream] * rope.inv_freq[j]
        assert cos[0, 0, j].item() == pytest.approx(torch.cos(angle).item(), abs=1e-6)
        assert cos[0, 0, j + 6].item() == cos[0, 0, j].item()


def test_rotation_preserves_norm_and_relative_position():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(pq, pk):
        cq, sq = rope(torch.tensor([[pq]]), torch.float32)
        ck, sk = rope(torch.tensor([[pk]]), torch.float32)
        return (apply_rotary(q, cq, sq) * apply_rotary(k, ck, sk)).sum().item()

    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_attention_mask_causal_and_window():
    pos = torch.arange(5)[None]
    causal = attention_mask(pos, pos)[0, 0]
    assert torch.equal(causal, torch.ones(5, 5, dtype=torch.bool).tril())
    windowed = attention_mask(pos, pos, sliding_window=2)[0, 0]
    assert windowed.sum(-1).tolist() == [1, 2, 2, 2, 2]
    assert attention_mask(pos, pos, causal=False) is None


def test_gqa_matches_explicitly_repeated_heads():
    torch.manual_seed(1)
    model = _randomized(Transformer(SPEC))
    attn = model.layers[0].self_attn
    x = torch.randn(1, 4, SPEC.hidden_size)
    pos = torch.arange(4)[None]
    cos, sin = model.rotary(pos, x.dtype)
    mask = attention_mask(pos, pos)
    q = attn.q_norm(attn.q_proj(x).view(1, 4, 4, 8)).transpose(1, 2)
    k = attn.k_norm(attn.k_proj(x).view(1, 4, 2, 8)).transpose(1, 2)
    v = attn.v_proj(x).view(1, 4, 2, 8).transpose(1, 2)
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    k, v = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)
    weights = (q @ k.transpose(-1, -2) / 8**0.5).masked_fill(~mask, float("-inf")).softmax(-1)
    expected = attn.o_proj((weights @ v).transpose(1, 2).reshape(1, 4, 32))
    torch.testing.assert_close(attn(x, cos, sin, pos, mask), expected, atol=1e-5, rtol=1e-5)


# ---- fused projections ---------------------------------------------------------------------------


def _decode_all(model: Transformer, x: torch.Tensor) -> torch.Tensor:
    """A two-token prefill then one token at a time through static caches (the decode shapes)."""
    batch, length, _ = x.shape
    pos = torch.arange(length).expand(batch, -1)
    caches = model.new_caches(batch=batch, max_len=length + 3)
    out = [model(x[:, :2], pos[:, :2], caches)]
    out += [model(x[:, t : t + 1], pos[:, t : t + 1], caches) for t in range(2, length)]
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("input_major", [True, False])
@pytest.mark.parametrize("attention_bias", [False, True])
def test_fused_projections_equal_unfused(input_major, attention_bias):
    torch.manual_seed(2)
    spec = dataclasses.replace(SPEC, attention_bias=attention_bias)
    model = _randomized(Transformer(spec))
    x = torch.randn(2, 6, spec.hidden_size)
    pos = torch.arange(6).expand(2, -1)
    expected_full, expected_decode = model(x, pos), _decode_all(model, x)
    state = {name: t.clone() for name, t in model.state_dict().items()}

    fuse_projections(model, input_major=input_major)
    attn, mlp = model.layers[0].self_attn, model.layers[0].mlp
    assert attn.qkv_weight.shape == (4 * 8 + 2 * 2 * 8, 32) and mlp.gate_up_weight.shape == (2 * 48, 32)
    assert (attn.qkv_bias is not None) == attention_bias
    assert attn.qkv_weight.is_contiguous() != input_major
    # The parts are views of the fused matrix (no second copy), under their checkpoint names and shapes.
    assert attn.q_proj.weight.data_ptr() == attn.qkv_weight.data_ptr()
    assert mlp.gate_proj.weight.data_ptr() == mlp.gate_up_weight.data_ptr()
    assert model.state_dict().keys() == state.keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    torch.testing.assert_close(model(x, pos), expected_full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_decode_all(model, x), expected_decode, atol=1e-5, rtol=1e-5)


def test_loading_into_a_fused_model_writes_through_to_the_fused_weights():
    torch.manual_seed(3)
    source, target = _randomized(Transformer(SPEC)), fuse_projections(_randomized(Transformer(SPEC)))
    target.load_state_dict(source.state_dict())
    x, pos = torch.randn(1, 5, SPEC.hidden_size), torch.arange(5)[None]
    torch.testing.assert_close(target(x, pos), source(x, pos), atol=1e-5, rtol=1e-5)
    fuse_projections(target)  # fusing again rebuilds from the parts
    torch.testing.assert_close(target(x, pos), source(x, pos), atol=1e-5, rtol=1e-5)


def test_fused_engine_generates_the_same_codes(tiny_checkpoint):
    # Its own engine, not the shared tiny_engine: fusing changes the model in place.
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=512)
    greedy = SamplingParams(do_sample=False, subtalker_do_sample=False)
    request = SynthesisRequest(text="Hello world", speaker="vivian", sampling=greedy, max_new_frames=6)
    before = engine.synthesize(request)
    fuse_projections(engine.model), fuse_projections(engine.codec)
    after = engine.synthesize(request)
    assert np.array_equal(after.codes, before.codes)
    np.testing.assert_allclose(after.samples, before.samples, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_layout_defaults_to_input_major_for_float32_on_cpu_only(dtype):
    model = fuse_projections(Transformer(SPEC).to(dtype))
    attn = model.layers[0].self_attn
    # bfloat16 matrix-vector products read an input-major weight ~20x slower on the CPU (bench/layers.py).
    assert attn.qkv_weight.is_contiguous() == (dtype != torch.float32)
    assert attn.qkv_weight.dtype == dtype
