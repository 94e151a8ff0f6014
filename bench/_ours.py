"""Our engine's side of bench/engine.py: one loaded checkpoint, timed the way the official side is timed.

``measure_stream`` runs ``engine.stream`` (the public API) with the split of its time by hooks;
``measure_batch`` runs ``engine.stream_many`` for B requests decoded together (the engine's batch: each
request its own seed and sampling) and gives the aggregate throughput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import _measure
from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.types import SAMPLE_RATE

SPEAKER = "vivian"


@dataclass
class Loaded:
    engine: TTSEngine
    load_s: float
    model_rss: int  # bytes the loaded, warmed-up model added to the process
    model_gpu_bytes: int | None
    loaded_rss: int = 0  # bytes the model added to the process once loaded, before the warm-up stream


def load(checkpoint: Path, device: str, dtype: str, text: str, max_batch_size: int = 1, **options) -> Loaded:
    """The engine, warmed up by a short stream (so every weight it reads is resident when RSS is read)."""
    before = _measure.current_rss()
    start = time.perf_counter()
    engine = TTSEngine.from_pretrained(
        checkpoint, device=device, dtype=dtype, max_batch_size=max_batch_size, **options
    )
    load_s = time.perf_counter() - start
    loaded_rss = _measure.current_rss() - before
    for _ in engine.stream(request(text, 3)):
        pass
    gpu = torch.cuda.memory_allocated(device) if engine.device.type == "cuda" else None
    return Loaded(engine, load_s, _measure.current_rss() - before, gpu, loaded_rss)


def request(text: str, frames: int, seed: int = 0) -> SynthesisRequest:
    """A forced-length request: end of speech is impossible before ``frames`` frames, which is the cap."""
    return SynthesisRequest(
        text=text,
        language="english",
        speaker=SPEAKER,
        max_new_frames=frames,
        min_new_frames=frames,
        seed=seed,
    )


def _sync(engine: TTSEngine):
    return (lambda: torch.cuda.synchronize(engine.device)) if engine.device.type == "cuda" else (lambda: None)


def time_to_first_audio(engine: TTSEngine, text: str, frames: int, new_voice: bool = False) -> dict:
    """Seconds from the call to the first streamed chunk (single-frame chunks), ``ttfa_s``, and where they go:
    ``plan_s`` (tokenizing, the prompt's embeddings), ``prefill_s`` (the talker over the prompt),
    ``first_frame_s`` (the code predictor's pass completing frame 0), ``codec_s`` (decoding it); ``calls``
    counts each of those before the first chunk. ``new_voice``: as a voice's first request (its prompt prefix
    not cached: ``qwen_tts/prefix_cache.py``); else as a later one (the warm-up used the same voice)."""
    interval = engine.emit_every_frames
    engine.emit_every_frames = 1
    watch = _measure.Stopwatch(_sync(engine))
    watch.wrap(engine, "_plan", "plan")
    watch.wrap(engine.model.talker, "forward", "prefill")
    watch.wrap(engine._batch, "first_frame_fn", "first_frame")  # an attribute FrameRunner may have set
    watch.wrap(engine.codec.decoder, "decode_many", "codec")
    if new_voice:
        engine._batch.prefixes.clear()
    try:
        start = time.perf_counter()
        stream = engine.stream(request(text, frames))
        next(stream)
        elapsed = time.perf_counter() - start
        stream.close()
    finally:
        engine.emit_every_frames = interval
        watch.restore()
    return {"ttfa_s": elapsed, **{f"{k}_s": v for k, v in watch.seconds.items()}, "calls": dict(watch.calls)}


def _run(engine: TTSEngine, pairs_of, requests: int, frames: int) -> dict:
    """Runs ``pairs_of()`` ((request index, chunk) pairs) timed, with its peak memory; checks every request
    got ``frames`` frames. ``steady_s``: the time after every request's first chunk (frame 0 comes with
    the admission), which covers ``frames - 1`` whole steps."""
    sync = _sync(engine)
    gpu = engine.device.type == "cuda"
    if gpu:
        torch.cuda.reset_peak_memory_stats(engine.device)
    rss_before = _measure.current_rss()
    got = [0] * requests
    audio = 0
    with _measure.RssPeak() as rss:
        sync()
        start = time.perf_counter()
        first_round = None
        for index, chunk in pairs_of():
            got[index] += len(chunk.codes)
            audio += len(chunk.samples)
            if first_round is None and all(got):
                sync()
                first_round = time.perf_counter()
        sync()
        end = time.perf_counter()
    if got != [frames] * requests:
        raise RuntimeError(f"expected {frames} frames per request, got {got}")
    return {
        "frames": frames,
        "total_s": end - start,
        "steady_s": end - first_round,
        "steps": frames - 1,
        "peak_rss": rss.peak - rss_before,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(engine.device) if gpu else None,
        "audio_s": audio / SAMPLE_RATE,
    }


def measure_stream(engine: TTSEngine, text: str, frames: int, split: bool) -> dict:
    """One forced-length stream: total and steady-state time, and (``split``) the time per frame of the
    talker step, the code predictor and the codec decoder; peak memory."""
    watch = _measure.Stopwatch(_sync(engine))
    talker = engine.model.talker
    if split:
        watch.wrap(talker, "forward", "talker")
        watch.wrap(talker.code_predictor, "forward", "predictor")
        watch.wrap_modules(talker.code_predictor.lm_head, "predictor")
    # Outside the (possibly compiled) frame step: always timed.
    watch.wrap(engine.codec.decoder, "decode_many", "codec")
    watch.wrap(engine._batch, "_admit", "admit")
    try:
        run = _run(engine, lambda: ((0, c) for c in engine.stream(request(text, frames))), 1, frames)
    finally:
        watch.restore()
    # The prefill: the talker's first call (the prompt); without the split, the admission (the prefill,
    # the first token and the predictor's pass of frame 0).
    first = watch.first.get("talker", 0.0) if split else watch.seconds["admit"]
    per_frame = {  # ms per frame: a talker step per frame after the first, a predictor pass and a decode each
        "talker_ms": 1e3 * (watch.seconds["talker"] - first) / (frames - 1) if split else None,
        "predictor_ms": 1e3 * watch.seconds["predictor"] / frames if split else None,
        "codec_ms": 1e3 * watch.seconds["codec"] / frames,
    }
    return {"batch": 1, "prefill_s": first, **per_frame, **run}


def measure_batch(engine: TTSEngine, text: str, frames: int, batch: int) -> dict:
    """``batch`` forced-length requests decoded together through ``engine.stream_many`` (the engine's batch
    must hold that many rows); ``prefill_s`` is the time of the prompts' admission (with frame 0)."""
    if engine.max_batch_size < batch:
        raise ValueError(f"the engine holds {engine.max_batch_size} rows; batch {batch} needs more")
    watch = _measure.Stopwatch(_sync(engine))
    watch.wrap(engine._batch, "_admit", "prefill")
    requests = [request(text, frames, seed=i) for i in range(batch)]
    try:
        run = _run(engine, lambda: engine.stream_many(requests), batch, frames)
    finally:
        watch.restore()
    return {"batch": batch, "prefill_s": watch.seconds["prefill"], **run}


def weight_bytes_per_frame(engine: TTSEngine) -> int:
    """Bytes of weights one frame must read: the talker step (stack and codec head), the code predictor's
    15 steps (its stack, and its input projection where it has one, each step) and its 15 heads (one each)."""
    talker = engine.model.talker
    predictor = talker.code_predictor
    steps = predictor.num_code_groups - 1
    per_step = _measure.linear_bytes([predictor.transformer, predictor.small_to_mtp_projection])
    return (
        _measure.linear_bytes([talker.transformer, talker.codec_head])
        + steps * per_step
        + _measure.linear_bytes(predictor.lm_head)
    )


def frame_weights(engine: TTSEngine) -> list:
    """The weight matrices one frame multiplies, in order, as the engine holds them (fused q/k/v and gate/up
    where ``fuse_projections`` made them): the talker step, then 15 code-predictor steps with their heads.
    A quantized engine's are its ``QuantizedLinear`` modules."""
    from qwen_tts.layers import Attention, GatedMLP
    from qwen_tts.quant import QuantizedLinear

    if any(isinstance(m, QuantizedLinear) for m in engine.model.modules()):
        return _quantized_products(engine)

    def of(transformer) -> list[torch.Tensor]:
        weights = []
        for module in transformer.modules():
            if isinstance(module, Attention):
                fused = module.qkv_weight
                parts = (module.q_proj, module.k_proj, module.v_proj)
                weights += [fused] if fused is not None else [p.weight for p in parts]
                weights.append(module.o_proj.weight)
            elif isinstance(module, GatedMLP):
                fused = module.gate_up_weight
                parts = (module.gate_proj, module.up_proj)
                weights += [fused] if fused is not None else [p.weight for p in parts]
                weights.append(module.down_proj.weight)
        return weights

    talker = engine.model.talker
    predictor = talker.code_predictor
    projection = predictor.small_to_mtp_projection  # each step's input projection, where there is one
    per_step = [projection.weight] if isinstance(projection, torch.nn.Linear) else []
    weights = [*of(talker.transformer), talker.codec_head.weight]
    for head in predictor.lm_head:
        weights += [*per_step, *of(predictor.transformer), head.weight]
    return weights


def _quantized_products(engine: TTSEngine) -> list:
    talker = engine.model.talker
    predictor = talker.code_predictor
    from qwen_tts.quant import QuantizedLinear

    def of(module) -> list:
        return [m for m in module.modules() if isinstance(m, QuantizedLinear)]

    products = [*of(talker.transformer), talker.codec_head]
    for head in predictor.lm_head:
        products += [*of(predictor.small_to_mtp_projection), *of(predictor.transformer), head]
    return products


def matrix_products_ms(engine: TTSEngine, rounds: int = 3) -> float:
    """ms for one frame's matrix-vector products alone, back to back over the engine's own weights (batch 1):
    what the frame step would take with every other op free. The step's ms minus this is its overhead."""
    weights = frame_weights(engine)
    if not isinstance(weights[0], torch.Tensor):  # quantized: time the modules themselves
        return _modules_ms(engine, weights, rounds)
    inputs = {w.shape[1]: torch.randn(1, 1, w.shape[1], dtype=w.dtype, device=w.device) for w in weights}
    sync = _sync(engine)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(rounds + 1):
            sync()
            start = time.perf_counter()
            for weight in weights:
                torch.nn.functional.linear(inputs[weight.shape[1]], weight)
            sync()
            best = min(best, time.perf_counter() - start)
    return 1e3 * best


def _modules_ms(engine: TTSEngine, modules: list, rounds: int) -> float:
    inputs = {m.in_features: torch.randn(1, 1, m.in_features, device=engine.device) for m in modules}
    best = float("inf")
    with torch.inference_mode():
        for _ in range(rounds + 1):
            start = time.perf_counter()
            for module in modules:
                module(inputs[module.in_features])
            best = min(best, time.perf_counter() - start)
    return 1e3 * best


def profile(engine: TTSEngine, text: str, frames: int, rows: int = 15) -> str:
    """torch.profiler's table of the ops that take the most time in one stream (self time)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if engine.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in engine.stream(request(text, frames)):
            pass
    key = "self_cuda_time_total" if engine.device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)
