"""The talker's keys and values of prompt prefixes seen before, reused across requests of the same voice.

Every prompt starts with positions that depend on the voice alone — the instruct (VoiceDesign, CustomVoice
1.7B), the assistant role, the codec prefix (think, language, speaker embedding, pad) — and only then the text
(``prompt.py``, ``TalkerPrompt.prefix_len``). Attention is causal, so those positions' keys and values are a
function of their embeddings only: a request whose prefix was prefilled before copies them into its cache row
and prefills just the rest. The entries are found by the prefix embeddings' bytes (a digest), so a voice needs
no name here, different voices never collide, and changed weights or speaker embeddings simply miss. Entries
are least-recently used first out, within ``max_bytes``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .static_cache import StaticCaches
    from .streams import PlannedStream

LayerKV = list[tuple[torch.Tensor, torch.Tensor]]  # per talker layer: k, v [H_kv, P, D]


def prefix_key(embeds: torch.Tensor, length: int) -> bytes:
    """A digest of the first ``length`` prompt embeddings ([1, T, D]) and their dtype."""
    head = embeds[0, :length].detach().to("cpu").contiguous()
    digest = hashlib.blake2b(str(head.dtype).encode(), digest_size=20)
    digest.update(head.view(torch.uint8).numpy().tobytes())
    return digest.digest()


class PrefixCache:
    """Least-recently-used prefix keys/values within ``max_bytes`` (0: nothing is kept). Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, LayerKV] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def get(self, key: bytes) -> LayerKV | None:
        with self._lock:
            layers = self._entries.get(key)
            if layers is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return layers

    def put(self, key: bytes, layers: LayerKV) -> None:
        size = _nbytes(layers)
        with self._lock:
            if key in self._entries or size > self.max_bytes:
                return
            while self._bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= sum(
                    k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in evicted
                )
            self._entries[key] = layers
            self._bytes += size

    def reuse(
        self, caches: StaticCaches, start: int, plans: list[PlannedStream]
    ) -> tuple[list[int], list[bytes | None]]:
        """Per plan (cache rows ``start``, ...): how many leading positions a cached prefix filled in its row
        (written now), and its prefix's key (None: nothing to cache)."""
        skips, keys = [], []
        for index, plan in enumerate(plans):
            cacheable = self.max_bytes and 0 < plan.prefix_len < plan.embeds.shape[1]
            key = prefix_key(plan.embeds, plan.prefix_len) if cacheable else None
            layers = self.get(key) if key is not None else None
            if layers is not None:
                caches.write_prefix(start + index, layers)
            skips.append(plan.prefix_len if layers is not None else 0)
            keys.append(key)
        return skips, keys

    def keep(
        self,
        caches: StaticCaches,
        start: int,
        plans: list[PlannedStream],
        skips: list[int],
        keys: list[bytes | None],
    ) -> None:
        """After the prefill: keeps the prefixes of the plans prefilled in full (``reuse`` found none)."""
        for index, (plan, key) in enumerate(zip(plans, keys, strict=True)):
            if key is not None and not skips[index]:
                self.put(key, caches.read_prefix(start + index, plan.prefix_len))


def _nbytes(layers: LayerKV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
