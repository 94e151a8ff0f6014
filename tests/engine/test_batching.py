"""Batched decoding: requests decoded together give exactly what each gives alone.

Each request keeps its own length, sampling parameters, seed and end; rows join (from the waiting queue) and
leave (end of speech, frame cap, cancellation) while the others go on; threads share one batch.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from qwen_tts import SamplingParams, SynthesisRequest, TTSEngine
from qwen_tts.runner import FrameRunner, batch_sizes

SAMPLINGS = [
    SamplingParams(do_sample=False, subtalker_do_sample=False),
    SamplingParams(temperature=0.7, top_k=20),
    SamplingParams(temperature=1.1, top_k=0, top_p=0.8, repetition_penalty=1.3),
    SamplingParams(subtalker_temperature=0.5, subtalker_top_p=0.9),
    SamplingParams(do_sample=True, subtalker_do_sample=False, top_k=5),
]


@pytest.fixture(scope="module")
def batched(tiny_checkpoint):
    """A CustomVoice engine with 3 rows where some requests end by themselves: EOS's output row is made a
    slightly larger copy of a frequent code's row, so EOS comes where that code would (random weights alone
    rarely end)."""
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice_1b7"), max_seq_len=256, max_batch_size=3)
    code0 = np.concatenate([engine.synthesize(r).codes[:, 0] for r in _requests(engine)])
    values, counts = np.unique(code0, return_counts=True)
    second_most_common = int(values[np.argsort(counts, kind="stable")[-2]])
    head = engine.model.talker.codec_head.weight
    with torch.no_grad():
        head[engine.config.talker.codec_eos_token_id] = head[second_most_common] * 1.02
    return engine


def _requests(engine, count=5):
    speakers = engine.speakers
    return [
        SynthesisRequest(
            text=f"Request number {i}, with its own words." + " More." * i,
            speaker=speakers[i % len(speakers)],
            sampling=SAMPLINGS[i % len(SAMPLINGS)],
            max_new_frames=5 + 3 * i,
            min_new_frames=0 if i % 2 else 3,
            seed=100 + i,
        )
        for i in range(count)
    ]


def _joined(chunks):
    return np.concatenate([c.codes for c in chunks]), np.concatenate([c.samples for c in chunks])


def test_batched_equals_each_request_alone(batched):
    requests = _requests(batched)
    alone = [batched.synthesize(r) for r in requests]
    assert any(a.finished and len(a.codes) < r.max_new_frames for a, r in zip(alone, requests, strict=True))
    assert any(len(a.codes) == r.max_new_frames for a, r in zip(alone, requests, strict=True))
    chunks: dict[int, list] = {i: [] for i in range(len(requests))}
    most_live = 0
    for index, chunk in batched.stream_many(requests):  # 5 requests on 3 rows: two wait, then join
        chunks[index].append(chunk)
        most_live = max(most_live, batched._batch.num_live)
    assert most_live == 3
    for index, expected in enumerate(alone):
        codes, samples = _joined(chunks[index])
        assert np.array_equal(codes, expected.codes), index
        np.testing.assert_allclose(samples, expected.samples, atol=1e-5)
        assert chunks[index][-1].is_last and chunks[index][-1].finished == expected.finished
    assert batched._batch.num_live == 0 and batched._batch.num_waiting == 0


def test_a_cancelled_stream_frees_its_row_and_the_others_are_unchanged(batched):
    requests = _requests(batched, 4)
    alone = [batched.synthesize(r) for r in requests]
    streams = [batched.stream(r) for r in requests]
    got: dict[int, list] = {i: [next(s)] for i, s in enumerate(streams[:3])}  # three rows taken
    streams[0].close()  # cancel: its row goes to the waiting request
    assert batched._batch.num_live == 2
    got[3] = [next(streams[3])]
    assert batched._batch.num_live == 3
    for index in (1, 2, 3):
        got[index].extend(streams[index])
        codes, _ = _joined(got[index])
        assert np.array_equal(codes, alone[index].codes)
    assert batched._batch.num_live == 0


def test_threads_share_the_batch(batched):
    requests = _requests(batched, 3)
    alone = [batched.synthesize(r).codes for r in requests]
    results: dict[int, np.ndarray] = {}

    def run(index):
        results[index] = _joined(list(batched.stream(requests[index])))[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(np.array_equal(results[i], alone[i]) for i in range(3))


def test_a_failing_prompt_fails_only_its_request(batched):
    too_long = SynthesisRequest(text="word " * 400, speaker=batched.speakers[0], max_new_frames=4)
    good = _requests(batched, 1)[0]
    with pytest.raises(ValueError, match="max_seq_len"):
        batched.synthesize(too_long)
    assert np.array_equal(batched.synthesize(good).codes, batched.synthesize(good).codes)


def test_first_chunk_needs_the_prefill_and_one_predictor_pass_only(tiny_checkpoint):
    """Frame 0 is completed when a request joins: its first chunk comes before any talker step (the talker
    runs once, for the prompt), and a request joining a running batch does not advance the others."""
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=96, max_batch_size=2)
    talker = engine.model.talker
    calls: list[int] = []
    original = talker.forward
    talker.forward = lambda x, *args, **kwargs: calls.append(x.shape[1]) or original(x, *args, **kwargs)
    try:
        first, second = (
            SynthesisRequest(text=text, speaker=engine.speakers[0], max_new_frames=20, min_new_frames=20)
            for text in ("Hello there", "A second one")
        )
        stream = engine.stream(first)
        chunk = next(stream)
        assert len(chunk.codes) == 1 and len(chunk.samples) == 1920
        assert len(calls) == 1 and calls[0] > 1  # the prefill only
        next(stream)  # 4 more frames: one talker step each
        assert len(calls) == 1 + engine.emit_every_frames and set(calls[1:]) == {1}
        frames_before = engine._batch._live[0].frames
        other = engine.stream(second)
        assert len(next(other).codes) == 1
        assert len(calls) == 2 + engine.emit_every_frames  # the second prompt's prefill, no batch step
        assert engine._batch._live[0].frames == frames_before
        stream.close(), other.close()
    finally:
        del talker.forward


def test_chunks_due_together_are_decoded_in_one_codec_call(tiny_checkpoint):
    """Requests that joined together have chunks of the same length due at the same steps: one
    ``decode_many`` call decodes all of them (and the audio is each request's own, as alone)."""
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=96, max_batch_size=3)
    requests = [
        SynthesisRequest(text=t, speaker=engine.speakers[0], max_new_frames=9, min_new_frames=9, seed=i)
        for i, t in enumerate(("One", "Two words", "And three words"))
    ]
    alone = [engine.synthesize(r) for r in requests]
    decoder = engine.codec.decoder
    calls: list[int] = []
    original = decoder.decode_many
    decoder.decode_many = lambda codes, states: calls.append(len(codes)) or original(codes, states)
    try:
        chunks: dict[int, list] = {i: [] for i in range(3)}
        for index, chunk in engine.stream_many(requests):
            chunks[index].append(chunk)
    finally:
        del decoder.decode_many
    assert calls == [3, 3, 3]  # frame 0, frames 1-4, frames 5-8: every chunk of the three in one call each
    for index, want in enumerate(alone):
        codes, samples = _joined(chunks[index])
        assert np.array_equal(codes, want.codes)
        np.testing.assert_allclose(samples, want.samples, atol=1e-4)


def test_runner_options_are_checked():
    cpu = torch.device("cpu")
    assert not FrameRunner.configure(cpu, None, None, 4).static_shapes
    assert FrameRunner.configure(cpu, None, "default", 4).static_shapes
    with pytest.raises(ValueError, match="CUDA device"):
        FrameRunner.configure(cpu, True, None, 4)
    with pytest.raises(ValueError, match="compile_mode must be"):
        FrameRunner.configure(cpu, None, "fastest", 4)
    # the original server's max-autotune + graphs: Inductor's kernels inside the engine's frame graphs
    graphed = FrameRunner.configure(torch.device("cuda"), True, "max-autotune", 4)
    assert graphed.use_cuda_graphs and graphed.compile_mode == "max-autotune-no-cudagraphs"
    assert FrameRunner.configure(torch.device("cuda"), None, "reduce-overhead", 4).compile_mode == "default"
    assert not FrameRunner.configure(torch.device("cuda"), False, None, 4).static_shapes
    assert FrameRunner.configure(cpu, None, None, 4, static_shapes=True).static_shapes
    assert batch_sizes(1) == (1,) and batch_sizes(6) == (1, 2, 4, 6) and batch_sizes(16) == (1, 2, 4, 8, 16)
    assert FrameRunner.configure(cpu, None, "default", 6).size_for(3) == 4


def test_graph_shaped_steps_equal_the_eager_path(tiny_checkpoint):
    """What a CUDA graph replays — steps at the captured sizes (3 live rows run as 4), attention over whole
    static caches, general sampling flags — run eagerly here: the same tokens and audio as the eager path."""
    path = tiny_checkpoint("custom_voice")
    eager = TTSEngine.from_pretrained(path, max_seq_len=96, max_batch_size=4)
    static = TTSEngine.from_pretrained(path, max_seq_len=96, max_batch_size=4, static_shapes=True)
    assert static.runner.sizes == (1, 2, 4) and static.runner.static_shapes
    _assert_same_streams(eager, static, _short_requests(eager, 3))


@pytest.mark.timeout(900)
def test_compiled_step_equals_eager(tiny_checkpoint):
    """torch.compile (Inductor, CPU here) of the frame step: the same tokens and audio as the eager path."""
    path = tiny_checkpoint("custom_voice")
    eager = TTSEngine.from_pretrained(path, max_seq_len=64, max_batch_size=1)
    compiled = TTSEngine.from_pretrained(path, max_seq_len=64, max_batch_size=1, compile_mode="default")
    _assert_same_streams(eager, compiled, _short_requests(eager, 2))  # one row: the second request waits


def _short_requests(engine, count):
    words = ["Hello there", "A second one", "Third"]
    return [
        SynthesisRequest(text=words[i], speaker=engine.speakers[0], max_new_frames=5 - i, seed=i + 1)
        for i in range(count)
    ]


def _assert_same_streams(expected_engine, engine, requests):
    expected = [expected_engine.synthesize(r) for r in requests]
    chunks: dict[int, list] = {i: [] for i in range(len(requests))}
    for index, chunk in engine.stream_many(requests):
        chunks[index].append(chunk)
    for index, want in enumerate(expected):
        codes, samples = _joined(chunks[index])
        assert np.array_equal(codes, want.codes)
        np.testing.assert_allclose(samples, want.samples, atol=1e-4)


def test_cpu_caches_take_memory_only_for_the_rows_and_positions_in_use(tiny_checkpoint):
    """Rows are allocated for max_seq_len positions, but on CPU only what steps reach is touched (zeroed or
    written): an idle row stays untouched, and a short request touches its own rounded-up length."""
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), max_seq_len=2048, max_batch_size=4)
    caches = engine._batch.caches
    assert caches.lazy and caches.talker.k[0].shape == (
        4,
        caches.talker.k[0].shape[1],
        2048,
        caches.talker.k[0].shape[3],
    )
    engine.synthesize(SynthesisRequest(text="Hello", speaker=engine.speakers[0], max_new_frames=3, seed=1))
    assert caches._finite[0] <= 128 and caches._finite[1:] == [0, 0, 0]


def test_memory_counts_the_caches_sized_from_the_settings(tiny_checkpoint):
    """memory_bytes (what a worker's residency budget counts) includes the static caches, whose size follows
    max_batch_size x max_seq_len — not the model's position limit."""
    path = tiny_checkpoint("custom_voice")
    one = TTSEngine.from_pretrained(path, max_seq_len=100, max_batch_size=1)
    four = TTSEngine.from_pretrained(path, max_seq_len=100, max_batch_size=4)
    longer = TTSEngine.from_pretrained(path, max_seq_len=300, max_batch_size=1)
    talker = one.config.talker.transformer
    per_position = talker.num_layers * 2 * talker.num_kv_heads * talker.head_dim * 4  # k and v, float32
    history_per_frame = one.config.talker.num_code_groups * 8  # a row's codes (the frame cap follows too)
    assert longer.memory_bytes() - one.memory_bytes() == 200 * (per_position + history_per_frame)
    weights = sum(t.numel() * t.element_size() for m in (one.model, one.codec) for t in m.parameters())
    assert four.memory_bytes() - one.memory_bytes() > 3 * 100 * per_position
    assert one.memory_bytes() > weights
