"""What the causal decoder remembers between streaming steps, so that each frame is decoded exactly once.

The decoder is causal end to end, so its output for frames ``[0, n)`` never depends on later frames. A stream
keeps, per stream (never on the modules, so streams interleave freely):
- for each causal conv, the last ``(kernel - 1) * dilation`` input samples (zeros before the first step);
- for each transposed conv, the overhang of its last outputs that later inputs still add to;
- for each attention layer, the keys and values of the last ``sliding_window - 1`` frames (post-RoPE);
- the number of frames decoded so far (the next frame's position).
Whole-sequence decoding is the same computation with zero histories and no overhang.

Several streams, each at its own frame, decode in one call through ``StreamState.stack``: their states
stacked along the batch (a stream before its first step contributes zeros, which is what its absent state
means; shorter attention windows are left-padded with slots at negative positions, which are never attended),
then ``unstack`` writes each stream's rows back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class WindowKV:
    """Keys and values of the most recent ``keep`` positions of one attention layer (a ``KVStore``)."""

    __slots__ = ("k", "keep", "v")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.k: torch.Tensor | None = None  # [B, H_kv, <= keep, D]
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def update(
        self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the remembered keys/values followed by the new ones; remembers the last ``keep``."""
        if self.k is not None:
            k, v = torch.cat((self.k, k), dim=2), torch.cat((self.v, v), dim=2)  # [B, H_kv, P + T, D]
        start = max(k.shape[2] - self.keep, 0)
        self.k, self.v = k[:, :, start:].clone(), v[:, :, start:].clone()  # copies: free the step's tensors
        return k, v


class StreamState:
    """Decoder state of one stream, or of several decoded together. Create with ``CodecDecoder.init_state``.

    Each row has its own ``row_frames`` (frames decoded so far: the position of its next frame); the rows of
    a state from ``init_state`` move in step, those of a ``stack`` of streams may not. Every layer's window
    holds, for each row ``b``, the keys of positions ``row_frames[b] - length .. row_frames[b] - 1``; slots
    whose position is negative are padding (zeros, never attended), left by stacking younger streams with
    older ones.
    """

    def __init__(self, batch: int, num_layers: int, kv_keep: int) -> None:
        if batch <= 0:
            raise ValueError(f"batch must be positive, got {batch}")
        self.batch = batch
        self.row_frames = [0] * batch
        self.kv = [WindowKV(kv_keep) for _ in range(num_layers)]
        self._history: dict[nn.Module, torch.Tensor] = {}
        self._overhang: dict[nn.Module, torch.Tensor] = {}

    @property
    def num_frames(self) -> int:
        """Frames decoded so far (the position of the next frame), when all rows are at the same frame."""
        first = self.row_frames[0]
        if any(frames != first for frames in self.row_frames):
            raise ValueError(f"the rows of this state are at different frames: {self.row_frames}")
        return first

    def advance(self, num_new: int) -> None:
        """Counts ``num_new`` frames decoded on every row."""
        self.row_frames = [frames + num_new for frames in self.row_frames]

    def next_positions(self, device: torch.device) -> torch.Tensor:
        """[B, 1]: each row's next frame position."""
        first = self.row_frames[0]
        if all(frames == first for frames in self.row_frames):
            return torch.full((self.batch, 1), first, dtype=torch.long, device=device)  # no host copy
        return torch.tensor(self.row_frames, dtype=torch.long, device=device)[:, None]

    @classmethod
    def stack(cls, states: Sequence[StreamState]) -> StreamState:
        """One state over the rows of ``states`` (in order) for one decoder call on all of them; afterwards
        ``unstack(states)`` writes each state's rows back. Absent histories and overhangs (a stream before
        its first step) stack as zeros, which is what they mean; shorter key/value windows are left-padded.
        """
        if not states:
            raise ValueError("nothing to stack")
        first = states[0]
        if len({id(s) for s in states}) != len(states):
            raise ValueError("a stream state appears more than once")
        if any(len(s.kv) != len(first.kv) or s.kv[0].keep != first.kv[0].keep for s in states):
            raise ValueError("stream states of different decoders cannot be stacked")
        batched = cls(sum(s.batch for s in states), len(first.kv), first.kv[0].keep)
        batched.row_frames = [frames for s in states for frames in s.row_frames]
        for layer, window in enumerate(batched.kv):
            parts = [s.kv[layer] for s in states]
            length = max(part.length for part in parts)
            if length:
                like = next(part.k for part in parts if part.k is not None)
                pairs = list(zip(parts, states, strict=True))
                window.k = torch.cat([_left_padded(p.k, s.batch, length, like) for p, s in pairs])
                window.v = torch.cat([_left_padded(p.v, s.batch, length, like) for p, s in pairs])
        for name in ("_history", "_overhang"):
            stores: list[dict[nn.Module, torch.Tensor]] = [getattr(s, name) for s in states]
            owners = dict.fromkeys(owner for store in stores for owner in store)
            for owner in owners:
                like = next(store[owner] for store in stores if owner in store)
                rows = [
                    store[owner] if owner in store else like.new_zeros(s.batch, *like.shape[1:])
                    for store, s in zip(stores, states, strict=True)
                ]
                getattr(batched, name)[owner] = torch.cat(rows)
        return batched

    def unstack(self, states: Sequence[StreamState]) -> None:
        """Writes this stacked state's rows back into ``states`` (those it was stacked from), as copies that
        do not keep the stacked tensors alive; each window is trimmed to what its stream keeps."""
        if sum(s.batch for s in states) != self.batch:
            raise ValueError(f"{self.batch} stacked rows, but the states hold {sum(s.batch for s in states)}")
        start = 0
        for state in states:
            rows = slice(start, start + state.batch)
            state.row_frames = self.row_frames[rows]
            length = min(max(state.row_frames), self.kv[0].keep)
            for window, own in zip(self.kv, state.kv, strict=True):
                if window.k is None or length == 0:
                    own.k = own.v = None
                else:
                    own.k = window.k[rows, :, window.length - length :].clone()
                    own.v = window.v[rows, :, window.length - length :].clone()
            state._history = {owner: t[rows].clone() for owner, t in self._history.items()}
            state._overhang = {owner: t[rows].clone() for owner, t in self._overhang.items()}
            start += state.batch

    def with_history(self, owner: nn.Module, x: torch.Tensor, size: int) -> torch.Tensor:
        """``x`` [B, C, T] preceded by the last ``size`` samples ``owner`` saw (zeros at first).

        Returns [B, C, size + T] and remembers its last ``size`` samples for the next step."""
        if x.shape[0] != self.batch:
            raise ValueError(f"stream state is for batch {self.batch}, got a step of batch {x.shape[0]}")
        past = self._history.get(owner)
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], size)
        full = torch.cat((past, x), dim=2)
        self._history[owner] = full[:, :, full.shape[2] - size :].clone()  # not a view pinning all of full
        return full

    def carry_overhang(self, owner: nn.Module, y: torch.Tensor, num_final: int) -> torch.Tensor:
        """Adds ``owner``'s previous overhang to the start of ``y`` [B, C, L] (a transposed conv's output for
        new inputs); returns the first ``num_final`` samples, which no later input changes, and keeps the
        rest as the next overhang."""
        past = self._overhang.get(owner)
        if past is not None:
            y = torch.cat((y[:, :, : past.shape[2]] + past, y[:, :, past.shape[2] :]), dim=2)
        self._overhang[owner] = y[:, :, num_final:].clone()
        return y[:, :, :num_final]


def _left_padded(x: torch.Tensor | None, batch: int, length: int, like: torch.Tensor) -> torch.Tensor:
    """x [b, H, L, D] (or None: L = 0) preceded by zeros up to ``length`` positions."""
    if x is None:
        return like.new_zeros(batch, like.shape[1], length, like.shape[3])
    return x if x.shape[2] == length else torch.nn.functional.pad(x, (0, 0, length - x.shape[2], 0))
