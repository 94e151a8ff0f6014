"""Model residency of one worker: every variant served, resident ones bounded by the budget, LRU out."""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.residency import ModelResidency

GB = 2**30


@dataclass
class SizedEngine:
    name: str
    size: int
    model_type: str = "custom_voice"
    speakers: tuple[str, ...] = ("Vivian",)
    languages: tuple[str, ...] = ("english",)


@dataclass
class Loads:
    sizes: dict[str, int]
    loaded: list[str] = field(default_factory=list)
    released: int = 0

    def load(self, name: str) -> SizedEngine:
        self.loaded.append(name)
        return SizedEngine(name, self.sizes[name], model_type="base" if "Base" in name else "custom_voice")

    def release(self) -> None:
        self.released += 1


def residency(loads: Loads, budget_gb: float | None) -> ModelResidency:
    budget = None if budget_gb is None else int(budget_gb * GB)
    return ModelResidency(loads.load, budget_bytes=budget, size_of=lambda e: e.size, release=loads.release)


def test_without_a_budget_every_model_stays_resident() -> None:
    loads = Loads({"A": 2 * GB, "B": 2 * GB, "C": 2 * GB})
    models = residency(loads, None)
    for name in ["A", "B", "C", "A", "B"]:
        assert models.get(name).name == name
    assert loads.loaded == ["A", "B", "C"] and models.resident == ("C", "A", "B")


def test_the_least_recently_used_model_goes_when_the_budget_is_full() -> None:
    loads = Loads({"A": 2 * GB, "B": 2 * GB, "C": 2 * GB})
    models = residency(loads, 4.5)
    models.get("A")
    models.get("B")
    models.get("A")  # B is now the least recently used
    models.get("C")
    assert models.resident == ("A", "C") and models.used_bytes == 4 * GB
    assert loads.released == 1


def test_a_known_size_evicts_before_loading_so_the_budget_is_never_exceeded() -> None:
    loads = Loads({"0.6B-CustomVoice": 3 * GB, "0.6B-Base": 3 * GB})
    models = residency(loads, 4)
    peak = 0
    for name in ["0.6B-CustomVoice", "0.6B-Base", "0.6B-CustomVoice", "0.6B-Base"]:
        models.get(name)
        peak = max(peak, models.used_bytes)
    assert peak <= 4 * GB
    assert loads.loaded == ["0.6B-CustomVoice", "0.6B-Base", "0.6B-CustomVoice", "0.6B-Base"]


def test_a_model_larger_than_the_budget_is_still_served_alone() -> None:
    loads = Loads({"small": 1 * GB, "big": 8 * GB})
    models = residency(loads, 4)
    models.get("small")
    assert models.get("big").name == "big"
    assert models.resident == ("big",)


def test_infos_outlive_eviction_so_routing_knows_every_served_model() -> None:
    loads = Loads({"0.6B-CustomVoice": 3 * GB, "0.6B-Base": 3 * GB})
    models = residency(loads, 4)
    models.get("0.6B-CustomVoice")
    models.get("0.6B-Base")
    assert models.resident == ("0.6B-Base",)
    info = models.info("0.6B-CustomVoice")
    assert info is not None and info.model_type == "custom_voice" and info.speakers == ("Vivian",)
    assert models.info("never-loaded") is None
