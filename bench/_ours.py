"""Our engine's side of bench/engine.py: one loaded checkpoint, timed the way the official side is timed.

``measure_stream`` runs ``engine.stream`` (the public API) with the split of its time by hooks;
``measure_batch`` runs the engine's generation step functions for a batch of requests (one shared prompt,
independent sampling per row) to give the aggregate throughput a batched scheduler reaches with these steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import _measure
from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.generation import (
    RequestCaches,
    TalkerLogitsRules,
    decode_one_frame,
    prefill,
    process_talker_logits,
)
from qwen_tts.planning import plan_request
from qwen_tts.sampling import SamplerTensors, sample
from qwen_tts.types import SAMPLE_RATE, SamplingParams

SPEAKER = "vivian"


@dataclass
class Loaded:
    engine: TTSEngine
    load_s: float
    model_rss: int  # bytes the loaded, warmed-up model added to the process
    model_gpu_bytes: int | None


def load(checkpoint: Path, device: str, dtype: str, text: str) -> Loaded:
    """The engine, warmed up by a short stream (so every weight is resident when RSS is read)."""
    before = _measure.current_rss()
    start = time.perf_counter()
    engine = TTSEngine.from_pretrained(checkpoint, device=device, dtype=dtype)
    load_s = time.perf_counter() - start
    for _ in engine.stream(request(text, 3)):
        pass
    gpu = torch.cuda.memory_allocated(device) if engine.device.type == "cuda" else None
    return Loaded(engine, load_s, _measure.current_rss() - before, gpu)


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


def time_to_first_audio(engine: TTSEngine, text: str, frames: int) -> float:
    """Seconds from the call to the first streamed chunk, with single-frame chunks."""
    interval = engine.emit_every_frames
    engine.emit_every_frames = 1
    try:
        start = time.perf_counter()
        stream = engine.stream(request(text, frames))
        next(stream)
        elapsed = time.perf_counter() - start
        stream.close()
    finally:
        engine.emit_every_frames = interval
    return elapsed


def measure_stream(engine: TTSEngine, text: str, frames: int, split: bool) -> dict:
    """One forced-length stream: total time and (``split``) talker / predictor / codec time, peak memory."""
    sync = _sync(engine)
    watch = _measure.Stopwatch(sync)
    talker = engine.model.talker
    if split:
        watch.wrap(talker, "forward", "talker")
        watch.wrap(talker.code_predictor, "forward", "predictor")
        watch.wrap_modules(talker.code_predictor.lm_head, "predictor")
        watch.wrap(engine.codec.decoder, "decode_step", "codec")
    gpu = engine.device.type == "cuda"
    if gpu:
        torch.cuda.reset_peak_memory_stats(engine.device)
    rss_before = _measure.current_rss()
    try:
        with _measure.RssPeak() as rss:
            sync()
            start = time.perf_counter()
            chunks = list(engine.stream(request(text, frames)))
            sync()
            total_s = time.perf_counter() - start
    finally:
        for owner in (talker, talker.code_predictor, engine.codec.decoder, *talker.code_predictor.lm_head):
            owner.__dict__.pop("forward", None)
            owner.__dict__.pop("decode_step", None)
    num_frames = sum(len(c.codes) for c in chunks)
    if num_frames != frames:
        raise RuntimeError(f"expected {frames} frames, got {num_frames}")
    first = watch.first.get("talker", 0.0)
    return {
        "batch": 1,
        "frames": frames,
        "total_s": total_s,
        "prefill_s": first,
        "talker_s": watch.seconds["talker"] - first if split else None,
        "predictor_s": watch.seconds["predictor"] if split else None,
        "codec_s": watch.seconds["codec"] if split else None,
        "peak_rss": rss.peak - rss_before,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(engine.device) if gpu else None,
        "audio_s": sum(len(c.samples) for c in chunks) / SAMPLE_RATE,
    }


@torch.inference_mode()
def measure_batch(engine: TTSEngine, text: str, frames: int, batch: int, decode_every: int = 4) -> dict:
    """``batch`` requests decoded together with the engine's step functions: prefill, ``frames`` whole-frame
    steps (talker + code predictor), the codec decoder every ``decode_every`` frames for the batch."""
    talker, device = engine.model.talker, engine.device
    plan = plan_request(request(text, frames), engine.config, talker, engine._tokenize)
    prompt_len = plan.prompt.length
    embeds = plan.prompt.embeds.expand(batch, -1, -1)
    text_rows = plan.prompt.text_rows.expand(batch, -1, -1)
    sampling = [SamplingParams().resolved(engine.sampling_defaults)] * batch
    rules = TalkerLogitsRules(
        repetition_penalty=torch.tensor([[s.repetition_penalty] for s in sampling], device=device),
        min_new_frames=torch.full((batch,), frames, device=device),
        suppressed=engine._suppressed,
        eos_id=engine.config.talker.codec_eos_token_id,
    )
    talker_params = SamplerTensors.build(sampling, predictor=False, device=device)
    predictor_params = SamplerTensors.build(sampling, predictor=True, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    sync = _sync(engine)
    gpu = device.type == "cuda"
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = _measure.current_rss()
    with _measure.RssPeak() as rss:
        sync()
        start = time.perf_counter()
        caches = RequestCaches.allocate(talker, batch, prompt_len + frames, prompt_len + frames)
        state = engine.codec.decoder.init_state(batch)
        seen = torch.zeros(batch, talker.codec_head.out_features, dtype=torch.bool, device=device)
        step = torch.zeros(batch, dtype=torch.long, device=device)
        logits, hidden = prefill(talker, embeds, caches.talker)
        code0 = sample(process_talker_logits(logits, seen, step, rules), talker_params, generator)
        sync()
        prefill_s = time.perf_counter() - start
        block, samples = [], 0
        for frame in range(frames):
            seen.scatter_(1, code0[:, None], True)
            step += 1
            input_pos = torch.full((batch, 1), prompt_len + frame, dtype=torch.long, device=device)
            row = text_rows[:, min(frame, text_rows.shape[1] - 1)][:, None]
            codes, logits, hidden = decode_one_frame(
                talker, hidden, code0, row, input_pos, predictor_params, generator, caches
            )
            code0 = sample(process_talker_logits(logits, seen, step, rules), talker_params, generator)
            block.append(codes)
            if len(block) == decode_every or frame == frames - 1:
                samples += engine.codec.decoder.decode_step(torch.stack(block, dim=1), state).shape[1]
                block = []
        sync()
        total_s = time.perf_counter() - start
    return {
        "batch": batch,
        "frames": frames,
        "total_s": total_s,
        "prefill_s": prefill_s,
        "peak_rss": rss.peak - rss_before,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(device) if gpu else None,
        "audio_s": batch * samples / SAMPLE_RATE,
    }


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
