"""Which models a worker keeps loaded: every variant it serves, as many as fit a memory budget, LRU out.

A worker listens on the queue of each model it serves. A task for a model that is not resident loads it
(the original server's CustomVoice ↔ Base switch); when the budget would be exceeded, the least recently used
models are unloaded first. A model's size is measured when it is loaded and remembered, so the next switch
to it evicts enough up front; a model never measured is loaded first and the budget enforced right after.
The model just asked for is never evicted, so a budget smaller than one model still serves every variant.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from common.contracts import ModelInfo
from workers.engine_port import Engine, model_info

log = logging.getLogger(__name__)


def engine_bytes(engine: Any) -> int:
    """Bytes of a loaded engine: its own count where it has one (weights, codec, static KV caches), else its
    model's weights and buffers (0 when it has no torch module to measure)."""
    if callable(getattr(engine, "memory_bytes", None)):
        return int(engine.memory_bytes())
    module = getattr(engine, "model", None)
    if module is None or not hasattr(module, "parameters"):
        return 0
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelResidency:
    def __init__(
        self,
        loader: Callable[[str], Engine],
        *,
        budget_bytes: int | None = None,
        size_of: Callable[[Engine], int] = engine_bytes,
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self._loader = loader
        self._budget = budget_bytes
        self._size_of = size_of
        self._release = release
        self._resident: OrderedDict[str, Engine] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}
        self._infos: dict[str, ModelInfo] = {}

    def get(self, name: str) -> Engine:
        """The engine of ``name``, loaded (and others evicted) if needed; marks it most recently used."""
        if (engine := self._resident.get(name)) is not None:
            self._resident.move_to_end(name)
            return engine
        self._evict_for(self._sizes.get(name, 0), keep=name)
        log.info("loading model %s (resident: %s)", name, ", ".join(self._resident) or "none")
        engine = self._loader(name)
        self._resident[name] = engine
        self._sizes[name] = self._size_of(engine)
        self._infos[name] = model_info(name, engine)
        self._evict_for(0, keep=name)
        return engine

    @property
    def budget_bytes(self) -> int | None:
        """None: nothing is ever evicted."""
        return self._budget

    @property
    def resident(self) -> tuple[str, ...]:
        return tuple(self._resident)

    @property
    def used_bytes(self) -> int:
        return sum(self._sizes[name] for name in self._resident)

    def info(self, name: str) -> ModelInfo | None:
        """What the web needs to route to ``name``; known once it has been loaded, resident or not."""
        return self._infos.get(name)

    def clear(self) -> None:
        while self._resident:
            self._unload(next(iter(self._resident)))

    def _evict_for(self, incoming: int, *, keep: str) -> None:
        if self._budget is None:
            return
        while self.used_bytes + incoming > self._budget:
            victim = next((n for n in self._resident if n != keep), None)
            if victim is None:
                return
            self._unload(victim)

    def _unload(self, name: str) -> None:
        log.info("unloading model %s (least recently used) to stay within the memory budget", name)
        del self._resident[name]
        self._release()
