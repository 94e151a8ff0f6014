"""Static KV caches of a batch: allocated once, sized by the engine's limits (not the model's 32k positions).

``capacity`` rows of ``max_len`` positions for every talker layer, and of ``num_code_groups`` positions for
every code-predictor layer (a frame is exactly that long). A step reads and writes them through ``KVCache``
views, which attend over the first ``kv_len`` positions only: the eager path passes the longest live length
(rounded up), so a short request does not pay for the whole allocation; a captured graph passes ``max_len``.

On CPU the talker caches are allocated lazily (``torch.empty``: the pages of unused positions and rows are
never touched, so process memory follows what is used) and zeroed per row up to a high-water mark as positions
come into use: attention multiplies masked-out values by zero weights, so everything within ``kv_len`` must be
finite. Values a departed request left behind are finite and masked; only never-written memory needs zeroing.
"""

from __future__ import annotations

import torch

from .layers import KVCache
from .model import Talker


class _LayerCaches:
    """k and v of every layer of one transformer, [capacity, H_kv, length, D] each."""

    def __init__(self, spec, capacity: int, length: int, dtype, device, lazy: bool) -> None:
        make = torch.empty if lazy else torch.zeros
        shape = (capacity, spec.num_kv_heads, length, spec.head_dim)
        self.k = [make(shape, dtype=dtype, device=device) for _ in range(spec.num_layers)]
        self.v = [make(shape, dtype=dtype, device=device) for _ in range(spec.num_layers)]

    def views(self, start: int, n: int, kv_len: int) -> list[KVCache]:
        """Rows [start, start + n) of every layer, attended over positions [0, kv_len)."""
        rows = slice(start, start + n)
        return [KVCache(k[rows], v[rows], kv_len) for k, v in zip(self.k, self.v, strict=True)]

    def zero(self, row: int, start: int, stop: int) -> None:
        for t in (*self.k, *self.v):
            t[row, :, start:stop].zero_()

    def copy_row(self, src: int, dst: int, length: int) -> None:
        for t in (*self.k, *self.v):
            t[dst, :, :length] = t[src, :, :length]


class StaticCaches:
    def __init__(self, talker: Talker, capacity: int, max_len: int, *, lazy: bool) -> None:
        weight = talker.codec_embedding.weight
        dtype, device = weight.dtype, weight.device
        predictor = talker.code_predictor
        self.capacity, self.max_len, self.lazy = capacity, max_len, lazy
        self.talker = _LayerCaches(talker.transformer.spec, capacity, max_len, dtype, device, lazy)
        groups = predictor.num_code_groups
        self.predictor = _LayerCaches(predictor.transformer.spec, capacity, groups, dtype, device, False)
        # Per row: talker positions [0, finite[row]) hold finite values (written, or zeroed).
        self._finite = [0 if lazy else max_len] * capacity

    def ensure_finite(self, start: int, n: int, length: int) -> None:
        """Makes talker positions [0, length) of rows [start, start + n) finite (zeroing unwritten memory);
        rows no step has reached are never touched, so they cost no memory."""
        for row in range(start, start + n):
            if length > self._finite[row]:
                self.talker.zero(row, self._finite[row], length)
                self._finite[row] = length

    def talker_views(self, start: int, n: int, kv_len: int) -> list[KVCache]:
        self.ensure_finite(start, n, kv_len)
        return self.talker.views(start, n, kv_len)

    def read_prefix(self, row: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Copies of the talker keys/values of row ``row``'s first ``length`` positions, per layer."""
        pairs = zip(self.talker.k, self.talker.v, strict=True)
        return [(k[row, :, :length].clone(), v[row, :, :length].clone()) for k, v in pairs]

    def write_prefix(self, row: int, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Puts ``read_prefix``'s keys/values into row ``row``'s first positions (made finite before)."""
        length = layers[0][0].shape[1]
        self.ensure_finite(row, 1, length)
        pairs = zip(self.talker.k, self.talker.v, strict=True)
        for (k, v), (cached_k, cached_v) in zip(pairs, layers, strict=True):
            k[row, :, :length] = cached_k
            v[row, :, :length] = cached_v

    def predictor_views(self, n: int) -> list[KVCache]:
        return self.predictor.views(0, n, self.predictor.k[0].shape[2])

    def move_row(self, src: int, dst: int, talker_len: int) -> None:
        """Row ``src``'s caches (its first ``talker_len`` talker positions) into row ``dst``."""
        self.talker.copy_row(src, dst, talker_len)
        self.predictor.copy_row(src, dst, self.predictor.k[0].shape[2])
        self._finite[dst] = max(self._finite[dst], talker_len)

    def nbytes(self) -> int:
        layers = (*self.talker.k, *self.talker.v, *self.predictor.k, *self.predictor.v)
        return sum(t.numel() * t.element_size() for t in layers)
