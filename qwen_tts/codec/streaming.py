"""What the causal decoder remembers between streaming steps, so that each frame is decoded exactly once.

The decoder is causal end to end, so its output for frames ``[0, n)`` never depends on later frames. A stream
keeps, per stream (never on the modules, so streams interleave freely):
- for each causal conv, the last ``(kernel - 1) * dilation`` input samples (zeros before the first step);
- for each transposed conv, the overhang of its last outputs that later inputs still add to;
- for each attention layer, the keys and values of the last ``sliding_window - 1`` frames (post-RoPE);
- the number of frames decoded so far (the next frame's position).
Whole-sequence decoding is the same computation with zero histories and no overhang.
"""

from __future__ import annotations

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
    """Per-stream decoder state. Create with ``CodecDecoder.init_state(batch)``."""

    def __init__(self, batch: int, num_layers: int, kv_keep: int) -> None:
        if batch <= 0:
            raise ValueError(f"batch must be positive, got {batch}")
        self.batch = batch
        self.num_frames = 0  # frames decoded so far: the position of the next frame
        self.kv = [WindowKV(kv_keep) for _ in range(num_layers)]
        self._history: dict[nn.Module, torch.Tensor] = {}
        self._overhang: dict[nn.Module, torch.Tensor] = {}

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
