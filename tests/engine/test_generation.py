"""Generation: the batch's static-cache step equals a plain full-recompute path; seeding is deterministic."""

from __future__ import annotations

import numpy as np
import torch

from qwen_tts import SamplingParams, SynthesisRequest
from qwen_tts.generation import TalkerLogitsRules, process_talker_logits, suppressed_ids
from qwen_tts.noise import draw_keys, seed_keys
from qwen_tts.planning import plan_request
from qwen_tts.sampling import SamplerTensors, sample

GREEDY = SamplingParams(do_sample=False, subtalker_do_sample=False, repetition_penalty=1.05)
SAMPLED = SamplingParams(do_sample=True, temperature=0.9, top_k=50, top_p=0.9, repetition_penalty=1.1)


@torch.inference_mode()
def reference_codes(engine, request: SynthesisRequest, num_frames: int) -> torch.Tensor:
    """No KV cache, no batch, no views: every token recomputes the whole sequence from scratch, and draws
    with the same counter-based noise keys (request seed, frame, codebook)."""
    talker = engine.model.talker
    predictor, groups = talker.code_predictor, talker.code_predictor.num_code_groups
    sampling = request.sampling.resolved(engine.sampling_defaults)
    talker_params = SamplerTensors.build([sampling], predictor=False, device=torch.device("cpu"))
    predictor_params = SamplerTensors.build([sampling], predictor=True, device=torch.device("cpu"))
    eos = engine.config.talker.codec_eos_token_id
    rules = TalkerLogitsRules(
        repetition_penalty=torch.tensor([[sampling.repetition_penalty]]),
        min_new_frames=torch.tensor([request.min_new_frames]),
        suppressed=suppressed_ids(engine.config.talker.vocab_size, eos, "cpu"),
        eos_id=eos,
    )
    key = seed_keys(torch.tensor([request.seed]))
    plan = plan_request(request, engine.config, talker, engine._tokenize)
    sequence = plan.prompt.embeds  # [1, T, D]
    seen = torch.zeros(1, talker.codec_head.out_features, dtype=torch.bool)

    def talker_step(seq):
        logits, hidden = talker(seq, torch.arange(seq.shape[1])[None])
        return logits[:, -1], hidden[:, -1:]

    logits, hidden = talker_step(sequence)
    frames = []
    for frame in range(num_frames):
        f = torch.tensor([frame])
        code0 = sample(
            process_talker_logits(logits, seen, f, rules), talker_params, draw_keys(key, f, 0, groups)
        )
        seen[0, code0] = True
        inputs = torch.cat([hidden, talker.codec_embedding(code0)[:, None]], dim=1)
        codes = [code0]
        for j, head in enumerate(predictor.lm_head):
            if j > 0:
                inputs = torch.cat([inputs, predictor.codec_embedding[j - 1](codes[-1])[:, None]], dim=1)
            h = predictor(inputs, torch.arange(inputs.shape[1])[None])[:, -1]
            codes.append(sample(head(h), predictor_params, draw_keys(key, f, j + 1, groups)))
        frame_codes = torch.stack(codes, dim=-1)  # [1, G]
        frames.append(frame_codes)
        text_rows = plan.prompt.text_rows
        text = text_rows[:, min(frame, text_rows.shape[1] - 1)][:, None]
        sequence = torch.cat([sequence, talker.embed_frames(frame_codes)[:, None] + text], dim=1)
        logits, hidden = talker_step(sequence)
    return torch.cat(frames)


def test_static_cache_equals_full_recompute_greedy_and_sampled(tiny_engine):
    engine = tiny_engine("custom_voice_1b7")
    for sampling in (GREEDY, SAMPLED):
        request = SynthesisRequest(
            text="Hello world, the voice", speaker="ryan", min_new_frames=10, max_new_frames=10,
            sampling=sampling, seed=7,
        )  # fmt: skip
        static = engine.synthesize(request).codes
        reference = reference_codes(engine, request, 10).numpy()
        assert static.shape == (10, 16)
        assert np.array_equal(static, reference)


def test_same_seed_same_output_different_seed_different_output(tiny_engine):
    engine = tiny_engine("custom_voice")
    request = SynthesisRequest(
        text="Hello world", speaker="vivian", max_new_frames=6, min_new_frames=6, seed=11
    )
    first, again = engine.synthesize(request), engine.synthesize(request)
    other = engine.synthesize(SynthesisRequest(**{**_fields(request), "seed": 12}))
    assert np.array_equal(first.codes, again.codes)
    assert np.array_equal(first.samples, again.samples)
    assert not np.array_equal(first.codes, other.codes)


def test_top_k_one_equals_greedy(tiny_engine):
    engine = tiny_engine("custom_voice")
    base = dict(text="Hello world", speaker="vivian", max_new_frames=5, min_new_frames=5)
    greedy = engine.synthesize(SynthesisRequest(**base, sampling=GREEDY, seed=1))
    top1 = SamplingParams(do_sample=True, top_k=1, subtalker_do_sample=True, subtalker_top_k=1)
    sampled = engine.synthesize(SynthesisRequest(**base, sampling=top1, seed=2))
    assert np.array_equal(greedy.codes, sampled.codes)


def _fields(request):
    return {name: getattr(request, name) for name in request.__slots__}
