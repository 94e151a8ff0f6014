"""Continuous batching: independent requests decoded together, one frame per step, on static buffers.

``FrameBatch`` holds ``capacity`` rows of state on the device — KV caches (``static_cache.py``), positions,
frame counters, repetition masks, each row's sampling parameters and noise key, and the code history — and a
step advances every live row by one frame (a talker step over the row's newest frame gives the next
codebook-0 token, then the code predictor's steps complete that frame), so the weights are read once per frame
for the whole batch. A request's frame 0 is completed when it joins (its prompt's prefill gives the token, the
predictor alone completes the frame: ``first_frame_step``), so its first chunk can be delivered before any
talker step runs — the first audio waits for the prefill and one predictor pass, not a whole frame more.
Each request keeps its own length, sampling parameters, seed and end: its tokens are the same alone or in any
batch (sampling noise is a hash of its seed and frame, ``noise.py``).

Live rows are kept contiguous ([0, n)): a request that ends moves the last row into its place, so the eager
step runs on exactly n rows. With ``FrameRunner`` in graph or compile mode the step runs on the smallest
captured size >= n, over every cache position (static shapes); the spare rows compute harmlessly.

The host learns about end of speech only when some request has a chunk due (every ``first_chunk_frames`` /
``emit_every_frames`` frames of that request): one device-to-host copy for all requests due at that step.
Frames generated past an end (at most one chunk's worth) are dropped. The chunks due at one step that have the
same number of frames are decoded in one codec call (``CodecDecoder.decode_many``), each stream keeping its
own decoder state. A request that reaches its frame cap ends there (``finished`` is False unless its
end-of-speech token came first).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import count

import numpy as np
import torch

from .generation import TalkerLogitsRules, predict_codes, process_talker_logits
from .model import Talker
from .noise import draw_keys, seed_keys
from .prefix_cache import PrefixCache
from .sampling import SamplerTensors, sample
from .static_cache import StaticCaches
from .streams import PlannedStream, Stream
from .threads import ThreadGovernor
from .types import AudioChunk, SamplingParams

KV_LEN_STEP = 64  # the eager step attends over the longest live length rounded up to this


class FrameBatch:
    """Rows of independent requests on one talker, advanced together (thread-safe)."""

    def __init__(
        self,
        talker: Talker,
        codec_decoder,
        *,
        capacity: int,
        max_len: int,
        max_new_frames: int,
        suppressed: torch.Tensor,
        eos_id: int,
        first_chunk_frames: int = 1,
        emit_every_frames: int = 4,
        static_shapes: bool = False,
        prefix_cache_bytes: int = 0,
    ) -> None:
        if capacity < 1 or max_len < 2 or max_new_frames < 1:
            raise ValueError("capacity and max_new_frames must be >= 1, max_len >= 2")
        weight = talker.codec_embedding.weight
        device, dtype = weight.device, weight.dtype
        self.talker, self.codec_decoder = talker, codec_decoder
        # A row holds max_len positions (prompt + frames) and the codes of max_new_frames frames.
        self.capacity, self.max_len, self.max_new_frames = capacity, max_len, min(max_new_frames, max_len - 1)
        self.first_chunk_frames, self.emit_every_frames = first_chunk_frames, emit_every_frames
        self.static_shapes = static_shapes
        self.groups = talker.code_predictor.num_code_groups
        self.caches = StaticCaches(talker, capacity, self.max_len, lazy=not static_shapes)
        self.prefixes = PrefixCache(prefix_cache_bytes)  # the KV of voices' prompt prefixes, reused
        width, vocab = talker.codec_head.in_features, talker.codec_head.out_features
        new = dict(device=device)
        self.text_in = torch.zeros(capacity, 1, width, dtype=dtype, **new)
        self.pos = torch.zeros(capacity, dtype=torch.long, **new)  # the next talker position
        self.frame = torch.zeros(capacity, dtype=torch.long, **new)  # frames completed
        self.keys = torch.zeros(capacity, dtype=torch.long, **new)
        self.seen = torch.zeros(capacity, vocab, dtype=torch.bool, **new)
        self.history = torch.zeros(capacity, self.max_new_frames, self.groups, dtype=torch.long, **new)
        self.rows = torch.arange(capacity, **new)
        defaults = [SamplingParams(False, 1.0, 0, 1.0, 1.0, False, 1.0, 0, 1.0)] * capacity
        self.talker_params = SamplerTensors.build(defaults, predictor=False, device=device)
        self.predictor_params = SamplerTensors.build(defaults, predictor=True, device=device)
        # Frame 0 of joining requests, rows [0, k) (static buffers, so first_frame_step can be a graph too).
        self.first_hidden = torch.zeros(capacity, 1, width, dtype=dtype, **new)
        self.first_code0 = torch.zeros(capacity, dtype=torch.long, **new)
        self.first_keys = torch.zeros(capacity, dtype=torch.long, **new)
        self.first_index = torch.zeros(capacity, dtype=torch.long, **new)  # always 0: the frame's index
        self.first_codes = torch.zeros(capacity, self.groups, dtype=torch.long, **new)
        self.first_params = SamplerTensors.build(defaults, predictor=True, device=device)
        self.rules = TalkerLogitsRules(
            repetition_penalty=torch.ones(capacity, 1, **new),
            min_new_frames=torch.zeros(capacity, dtype=torch.long, **new),
            suppressed=suppressed,
            eos_id=eos_id,
        )
        self._live: list[Stream] = []  # by row
        self._waiting: deque[Stream] = deque()
        self._streams: dict[int, Stream] = {}
        self._handles = count()
        self._lock = threading.RLock()
        self._step_views: tuple | None = None  # sampling views of the live rows (rebuilt when they change)
        self.frame_fn: Callable[[int, int], None] = self.frame_step  # FrameRunner may replace them
        self.governor: ThreadGovernor | None = None  # the CPU thread count of the steps (the engine sets it)
        self.first_frame_fn: Callable[[int], None] = self.first_frame_step

    # ---- requests ----
    def submit(self, plan: PlannedStream) -> int:
        """Queues a request; it takes a row on the next step that has one free. Returns its handle."""
        length = plan.embeds.shape[1]
        if length + plan.max_frames > self.max_len or not 1 <= plan.max_frames <= self.max_new_frames:
            raise ValueError(
                f"a prompt of {length} positions and {plan.max_frames} frames does not fit a row of "
                f"{self.max_len} positions and {self.max_new_frames} frames"
            )
        with self._lock:
            handle = next(self._handles)
            stream = Stream(plan)
            self._streams[handle] = stream
            self._waiting.append(stream)
            return handle

    def next_chunk(self, handle: int) -> AudioChunk:
        """The request's next chunk, stepping the batch (every live request) until it has one."""
        with self._lock:
            stream = self._streams[handle]
            while not stream.chunks:
                if stream.error is not None:
                    raise stream.error
                if stream.done:
                    raise RuntimeError(f"stream {handle} has no more chunks")
                self.step()
            return stream.chunks.popleft()

    def release(self, handle: int) -> None:
        """Forgets a request (finished or cancelled): its row is freed at once."""
        with self._lock:
            stream = self._streams.pop(handle, None)
            if stream is None:
                return
            if stream.row is not None:
                self._free_row(stream)
            elif stream in self._waiting:
                self._waiting.remove(stream)

    def nbytes(self) -> int:
        """The static state: KV caches, every per-row buffer, and the prefix cache's bound."""
        buffers = (self.text_in, self.pos, self.frame, self.keys, self.seen, self.history)
        buffers += (self.first_hidden, self.first_code0, self.first_keys, self.first_index, self.first_codes)
        own = sum(t.numel() * t.element_size() for t in buffers)
        return self.caches.nbytes() + own + self.prefixes.max_bytes

    @property
    def num_live(self) -> int:
        return len(self._live)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    # ---- stepping ----
    @torch.inference_mode()
    def step(self) -> None:
        """Admits waiting requests into free rows (their frame 0: the step ends there, so their first chunks
        go out at once), or else advances every live row by one frame."""
        with self._lock:
            free = self.capacity - len(self._live)
            if self._waiting and free:
                self._admit([self._waiting.popleft() for _ in range(min(free, len(self._waiting)))])
                self._emit_due()
                return
            n = len(self._live)
            if n == 0:
                return
            for stream in self._live:
                self._feed_text(stream)
            kv_len = self._kv_len()
            try:
                if self.governor is None:
                    self.frame_fn(n, kv_len)
                else:  # timed, now and then at another CPU thread count (threads.py)
                    self.governor.run(n, lambda: self.frame_fn(n, kv_len))
            except BaseException as e:  # the rows' state is unknown now: every live request fails
                for stream in list(self._live):
                    self._fail(stream, e)
                raise
            for stream in self._live:
                stream.frames += 1
            self._emit_due()

    def frame_step(self, n: int, kv_len: int) -> None:
        """One frame for rows [0, n): the talker reads each row's newest frame (plus its text row) and gives
        the next codebook-0 token; the code predictor completes that frame. Only in-place writes to the
        batch's buffers (graph-safe)."""
        talker, rows = self.talker, self.rows[:n]
        talker_params, predictor_params, rules = self._views(n)
        keys, frame = self.keys[:n], self.frame[:n]
        newest = self.history[rows, (frame - 1).clamp(0, self.max_new_frames - 1)]  # [n, G]
        x = talker.embed_frames(newest)[:, None] + self.text_in[:n]
        position = self.pos[:n, None].clamp(max=self.max_len - 1)  # spare graph rows may run past the end
        logits, hidden = talker(x, position, self.caches.talker_views(0, n, kv_len))
        self.pos[:n] += 1
        logits = process_talker_logits(logits[:, -1], self.seen[:n], frame, rules)
        code0 = sample(logits, talker_params, draw_keys(keys, frame, 0, self.groups))
        codes = self._complete_frame(hidden, code0, predictor_params, keys, frame, n)
        self.history[rows, frame.clamp(max=self.max_new_frames - 1)] = codes
        self.seen[:n].scatter_(1, code0[:, None], True)
        frame += 1

    def first_frame_step(self, k: int) -> None:
        """Frame 0 of rows [0, k) of the ``first_*`` buffers: the prompt's prefill gave its codebook-0 token
        and hidden state; the code predictor completes it into ``first_codes``. Graph-safe like
        ``frame_step``; it borrows the predictor caches of rows [0, k), which hold nothing between frames.
        Sampling takes the general path (right for any rows' values): this runs once per admission."""
        params = self.first_params.rows(0, k, None, predictor=True)
        codes = self._complete_frame(
            self.first_hidden[:k], self.first_code0[:k], params, self.first_keys[:k], self.first_index[:k], k
        )
        self.first_codes[:k] = codes

    def _complete_frame(
        self,
        hidden: torch.Tensor,  # [n, 1, D]: the talker's state at the frame's start
        code0: torch.Tensor,  # [n]
        params: SamplerTensors,
        keys: torch.Tensor,  # [n]
        frame: torch.Tensor,  # [n]: the frame's index per row
        n: int,
    ) -> torch.Tensor:
        """The frame's G codes [n, G]: codebook 0 and the code predictor's G-1 codes after it."""
        predictor = self.talker.code_predictor
        embed = self.talker.codec_embedding(code0)[:, None]
        rest = predict_codes(predictor, hidden, embed, params, keys, frame, self.caches.predictor_views(n))
        return torch.cat([code0[:, None], rest], dim=-1)

    # ---- internals ----
    def _views(self, n: int) -> tuple[SamplerTensors, SamplerTensors, TalkerLogitsRules]:
        if self.static_shapes:  # general flags: right for whatever rows a replay meets
            return (
                self.talker_params.rows(0, n, None, predictor=False),
                self.predictor_params.rows(0, n, None, predictor=True),
                self.rules.rows(0, n),
            )
        if self._step_views is None or self._step_views[0] != n:
            params = [s.plan.sampling for s in self._live[:n]]
            self._step_views = (
                n,
                self.talker_params.rows(0, n, params, predictor=False),
                self.predictor_params.rows(0, n, params, predictor=True),
                self.rules.rows(0, n),
            )
        return self._step_views[1:]

    def _kv_len(self) -> int:
        if self.static_shapes:
            return self.max_len
        longest = max(s.plan.embeds.shape[1] + s.frames + 1 for s in self._live)
        return min(-(-longest // KV_LEN_STEP) * KV_LEN_STEP, self.max_len)

    def _admit(self, streams: list[Stream]) -> None:
        """Prefills the requests together into rows [n, n + k), samples their first codebook-0 tokens and
        completes their frame 0 (``first_frame_fn``: the code predictor alone).

        Prompts are right-padded to the longest: causal attention keeps every real position from seeing the
        padding, and a row's own steps overwrite the cache slots the padding wrote."""
        start, count = len(self._live), len(streams)
        span = slice(start, start + count)
        plans = [s.plan for s in streams]
        try:
            skips, keys = self.prefixes.reuse(self.caches, start, plans)
            lengths = [p.embeds.shape[1] - skip for p, skip in zip(plans, skips, strict=True)]
            width = max(lengths)
            embeds = plans[0].embeds.new_zeros(count, width, plans[0].embeds.shape[2])
            for index, plan in enumerate(plans):
                row = start + index
                embeds[index, : lengths[index]] = plan.embeds[0, skips[index] :]
                self.talker_params.set_row(row, plan.sampling, predictor=False)
                self.predictor_params.set_row(row, plan.sampling, predictor=True)
                self.rules.repetition_penalty[row] = plan.sampling.repetition_penalty
                self.rules.min_new_frames[row] = plan.min_frames
            self.keys[span] = seed_keys(torch.tensor([p.seed for p in plans], device=self.keys.device))
            self.seen[span] = False
            self.frame[span] = 0
            self.pos[span] = torch.tensor([p.embeds.shape[1] for p in plans], device=self.pos.device)
            offsets = torch.tensor(skips, device=embeds.device)[:, None]
            positions = (offsets + torch.arange(width, device=embeds.device)).clamp(max=self.max_len - 1)
            views = self.caches.talker_views(start, count, min(max(skips) + width, self.max_len))
            logits, hidden = self.talker(embeds, positions, views)
            self.prefixes.keep(self.caches, start, plans, skips, keys)
            last = torch.tensor(lengths, device=self.pos.device) - 1
            picked = self.rows[:count], last  # each row's last real position in this prefill
            self.first_hidden[:count] = hidden[picked][:, None]
            self.first_code0[:count] = sample(
                process_talker_logits(
                    logits[picked], self.seen[span], self.frame[span], self.rules.rows(start, start + count)
                ),
                self.talker_params.rows(start, start + count, [p.sampling for p in plans], predictor=False),
                draw_keys(self.keys[span], self.frame[span], 0, self.groups),
            )
            self.first_keys[:count] = self.keys[span]
            for index, plan in enumerate(plans):
                self.first_params.set_row(index, plan.sampling, predictor=True)
            self.first_frame_fn(count)
            first = self.first_codes[:count]
            self.history[span, 0] = first
            self.seen[span].scatter_(1, first[:, :1], True)
            self.frame[span] = 1
            for stream in streams:
                stream.decoder_state = self.codec_decoder.init_state(1)
                if stream.plan.ref_codes is not None:  # an in-context clone: its reference frames are context
                    self.codec_decoder.decode_step(stream.plan.ref_codes[None], stream.decoder_state)
        except BaseException as e:
            for stream in streams:
                self._fail(stream, e)
            return
        for index, stream in enumerate(streams):
            stream.row, stream.frames = start + index, 1
            self._live.append(stream)
        self._step_views = None

    def _feed_text(self, stream: Stream) -> None:
        """The text row added to the newest frame at the next talker step (kept once the text is used up)."""
        rows, index = stream.plan.text_rows, stream.frames - 1
        if index <= rows.shape[1] - 1:
            self.text_in[stream.row, 0] = rows[0, index]

    def _emit_due(self) -> None:
        due = [s for s in self._live if s.is_due(self.first_chunk_frames, self.emit_every_frames)]
        if not due:
            return
        # One device-to-host copy for every request due now: its new frames.
        blocks = [self.history[s.row, s.emitted : s.frames] for s in due]
        new_codes = torch.cat(blocks).cpu().split([b.shape[0] for b in blocks])
        endings = [s.ending(c[:, 0].tolist(), self.rules.eos_id) for s, c in zip(due, new_codes, strict=True)]
        kept = [block[: ending.keep] for block, ending in zip(blocks, endings, strict=True)]
        audio = self._decode(due, kept)
        for stream, codes, samples, ending in zip(due, new_codes, audio, endings, strict=True):
            stream.deliver(codes[: ending.keep], samples, ending)
        for stream, ending in zip(due, endings, strict=True):
            if ending.is_last:
                self._free_row(stream)

    def _decode(self, streams: list[Stream], blocks: list[torch.Tensor]) -> list[np.ndarray]:
        """Each stream's new frames [t, G] -> its samples. Streams with the same number of new frames are
        decoded in one codec call (``decode_many``): the decoder's weights are read once for all of them."""
        audio = [np.zeros(0, dtype=np.float32)] * len(streams)
        by_length: dict[int, list[int]] = {}
        for index, block in enumerate(blocks):
            if block.shape[0]:
                by_length.setdefault(block.shape[0], []).append(index)
        for indices in by_length.values():
            codes = [blocks[i][None] for i in indices]
            states = [streams[i].decoder_state for i in indices]
            for i, samples in zip(indices, self.codec_decoder.decode_many(codes, states), strict=True):
                audio[i] = samples[0].float().cpu().numpy()
        return audio

    def _fail(self, stream: Stream, error: BaseException) -> None:
        stream.error, stream.done = error, True
        if stream.row is not None:
            self._free_row(stream)

    def _free_row(self, stream: Stream) -> None:
        """Frees the stream's row; the last live row moves into it, so live rows stay [0, n)."""
        row, last = stream.row, len(self._live) - 1
        stream.row = None
        moved = self._live.pop()
        if moved is not stream:
            self._move_row(moved, last, row)
            self._live[row] = moved
        self._step_views = None

    def _move_row(self, stream: Stream, src: int, dst: int) -> None:
        self.caches.move_row(src, dst, stream.plan.embeds.shape[1] + stream.frames)
        for buf in (self.text_in, self.pos, self.frame, self.keys, self.seen):
            buf[dst] = buf[src]
        self.history[dst, : stream.frames] = self.history[src, : stream.frames]
        for params in (self.talker_params, self.predictor_params):
            for t in _tensors(params):
                t[dst] = t[src]
        self.rules.repetition_penalty[dst] = self.rules.repetition_penalty[src]
        self.rules.min_new_frames[dst] = self.rules.min_new_frames[src]
        stream.row = dst


def _tensors(params: SamplerTensors) -> tuple[torch.Tensor, ...]:
    return params.do_sample, params.temperature, params.top_k, params.top_p
