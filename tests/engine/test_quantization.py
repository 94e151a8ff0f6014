"""int8 quantization (qwen_tts/quant): each kernel's logits against fp32 within stated bounds, teacher-forced,
at the released widths (random weights, fewer layers) and on the tiny checkpoints; a quantized engine streams
exactly what it decodes whole; the option is validated and the weights shrink."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.layers import Transformer, TransformerSpec
from qwen_tts.quant import QuantizedLinear, quantize_transformer, quantized_linear
from qwen_tts.quant.embedding import QuantizedEmbedding
from qwen_tts.quant.fidelity import compare_logits, model_fidelity
from qwen_tts.quant.kernels import has_fbgemm, has_onednn_int8

KERNELS = [
    pytest.param("fbgemm", marks=pytest.mark.skipif(not has_fbgemm(), reason="no fbgemm")),
    pytest.param("onednn", marks=pytest.mark.skipif(not has_onednn_int8(), reason="no oneDNN int8")),
    "weight_only",
]
# Lower bounds, measured with margin (BENCHMARKS.md "Quantization"): activation quantization (fbgemm,
# oneDNN: int8 activations per call) loses more than weight-only int8.
REAL_WIDTH_BOUNDS = {"fbgemm": (27.0, 0.85), "onednn": (27.0, 0.85), "weight_only": (33.0, 0.9)}
TINY_BOUNDS = {  # (talker SNR dB, top-1), (code predictor SNR dB, top-1)
    "fbgemm": ((25.0, 0.85), (13.0, 0.65)),
    "onednn": ((25.0, 0.85), (13.0, 0.65)),
    "weight_only": ((31.0, 0.9), (28.0, 0.9)),
}


def _snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((out - ref) ** 2), 1e-300)))


@pytest.fixture(scope="module")
def real_width_stack():
    """The code predictor's released shapes (1024 wide, MLP 3072, 16 / 8 heads of 128), 3 layers and a
    2048-way head, weights N(0, 0.02) as at initialisation."""
    torch.manual_seed(0)
    spec = TransformerSpec(1024, 3072, 3, 16, 8, 128, qk_norm=True, rope_theta=1e6)
    stack, head = Transformer(spec).eval(), torch.nn.Linear(1024, 2048, bias=False)
    for param in [*stack.parameters(), head.weight]:
        if param.ndim == 2:
            torch.nn.init.normal_(param, std=0.02)
    return stack, head


@pytest.mark.parametrize("kernel", KERNELS)
def test_real_width_logits_stay_close_to_fp32(real_width_stack, kernel):
    stack, head = real_width_stack
    x = torch.randn(2, 16, 1024, generator=torch.Generator().manual_seed(1))
    pos = torch.arange(16)[None].expand(2, -1)
    quantized, quantized_head = (
        quantize_transformer(copy.deepcopy(stack), kernel),
        quantized_linear(head, kernel),
    )
    with torch.inference_mode():
        fidelity = compare_logits(head(stack(x, pos)), quantized_head(quantized(x, pos)))
    snr, top1 = REAL_WIDTH_BOUNDS[kernel]
    assert fidelity.snr_db >= snr and fidelity.top1 >= top1, fidelity


@pytest.mark.parametrize("kernel", KERNELS)
def test_tiny_checkpoint_logits_stay_close_to_fp32(tiny_engine, kernel):
    engine = tiny_engine("custom_voice_1b7")  # has the predictor's input projection
    codes = torch.randint(0, 1024, (2, 24, 16), generator=torch.Generator().manual_seed(0))
    talker, predictor = model_fidelity(engine.model, codes, kernel=kernel)
    (talker_snr, talker_top1), (predictor_snr, predictor_top1) = TINY_BOUNDS[kernel]
    assert talker.snr_db >= talker_snr and talker.top1 >= talker_top1, talker
    assert predictor.snr_db >= predictor_snr and predictor.top1 >= predictor_top1, predictor


@pytest.fixture(scope="module")
def int8_engine(tiny_checkpoint):
    return TTSEngine.from_pretrained(
        tiny_checkpoint("custom_voice"), max_seq_len=256, emit_every_frames=2, quantize="int8"
    )


def test_int8_engine_streams_what_it_decodes_whole(int8_engine):
    request = SynthesisRequest(
        text="Hello world", speaker="vivian", seed=3, max_new_frames=7, min_new_frames=7
    )
    chunks = list(int8_engine.stream(request))
    codes = np.concatenate([c.codes for c in chunks])
    streamed = np.concatenate([c.samples for c in chunks])
    assert codes.shape == (7, 16)
    assert np.array_equal(codes, int8_engine.synthesize(request).codes)  # same seed, same codes
    assert _snr_db(int8_engine.codec_decode(codes), streamed) >= 60.0


def test_int8_engine_quantizes_the_talker_and_predictor_only(int8_engine, tiny_engine):
    talker = int8_engine.model.talker
    assert isinstance(talker.codec_head, QuantizedLinear)
    assert all(isinstance(h, QuantizedLinear) for h in talker.code_predictor.lm_head)
    assert isinstance(talker.transformer.layers[0].mlp.down_proj, QuantizedLinear)
    assert talker.codec_embedding.weight.dtype == torch.float32  # talker embeddings, caches: compute dtype
    assert all(isinstance(e, QuantizedEmbedding) for e in talker.code_predictor.codec_embedding)
    assert isinstance(talker.text_projection.linear_fc1, QuantizedLinear)
    assert isinstance(talker.text_projection.linear_fc2, QuantizedLinear)
    assert not any(isinstance(m, QuantizedLinear) for m in int8_engine.codec.modules())
    assert int8_engine.memory_bytes() < tiny_engine("custom_voice").memory_bytes()


def test_unknown_quantize_mode_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="quantize must be one of int8"):
        TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), quantize="int3")


# A lookup is off by at most half its row's step (max|row| / 254); over a table, the quantization noise of
# per-row int8 lies ~42-45 dB below the rows (measured 44.5-44.6 dB on the tiny tables, 42.1 dB on a
# released-size N(0, 0.02) table): bound 40 dB.
EMBEDDING_SNR_DB = 40.0


def test_quantized_predictor_embeddings_equal_fp32_within_half_a_step(int8_engine, tiny_engine):
    tables = tiny_engine("custom_voice").model.talker.code_predictor.codec_embedding
    quantized = int8_engine.model.talker.code_predictor.codec_embedding
    ids = torch.arange(tables[0].num_embeddings)
    assert len(quantized) == len(tables) == 15
    for table, q in zip(tables, quantized, strict=True):
        assert q.q.dtype == torch.int8
        with torch.inference_mode():
            ref, out = table(ids), q(ids)
        half_step = ref.abs().amax(dim=1, keepdim=True) / 254
        assert torch.all((out - ref).abs() <= half_step * (1 + 1e-5))
        assert _snr_db(ref.numpy(), out.numpy()) >= EMBEDDING_SNR_DB


def test_quantized_text_projection_stays_close_to_fp32(int8_engine, tiny_engine):
    """The prompt's text embeddings through the int8 text projection: measured 37.6 dB from fp32 on the tiny
    checkpoint (35.4 dB at the 0.6B shapes, bench in BENCHMARKS.md); bound 33 dB."""
    talker = tiny_engine("custom_voice").model.talker
    ids = torch.randint(
        0, talker.text_embedding.num_embeddings, (4, 32), generator=torch.Generator().manual_seed(0)
    )
    with torch.inference_mode():
        ref, out = talker.embed_text(ids), int8_engine.model.talker.embed_text(ids)
    assert out.dtype == ref.dtype == torch.float32
    assert _snr_db(ref.numpy(), out.numpy()) >= 33.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_quantized_layer_owns_its_bias(kernel):
    """A bias kept as a view of the layer's tensor would keep a memory-mapped checkpoint (and every page of it
    the load touched) resident: 2.4 GB at 0.6B once the text projection was quantized."""
    linear, x = torch.nn.Linear(64, 32), torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    quantized = quantized_linear(linear, kernel)
    with torch.inference_mode():
        before = quantized(x)
    with torch.no_grad():
        linear.bias.add_(1.0)
    with torch.inference_mode():
        assert torch.equal(quantized(x), before)
