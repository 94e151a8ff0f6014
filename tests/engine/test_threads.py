"""The CPU thread governor (``qwen_tts/threads.py``): it follows whichever thread count makes steps faster."""

from __future__ import annotations

import pytest
import torch

from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.threads import ThreadGovernor, cpu_thread_governor, thread_choices


class FakeMachine:
    """A step's duration by thread count, per phase (quiet, then busy); a fake clock that advances by it."""

    def __init__(self, costs: dict[int, float]) -> None:
        self.costs, self.now, self.threads, self.calls = costs, 0.0, None, []

    def clock(self) -> float:
        return self.now

    def set_threads(self, count: int) -> None:
        self.threads = count

    def step(self) -> None:
        self.calls.append(self.threads)
        self.now += self.costs[self.threads]


def _governor(machine: FakeMachine, **options) -> ThreadGovernor:
    return ThreadGovernor([2, 1], clock=machine.clock, set_threads=machine.set_threads, **options)


def test_it_moves_to_fewer_threads_when_the_cores_get_busy_and_back_when_they_are_free():
    machine = FakeMachine({2: 0.175, 1: 0.211})  # quiet: two threads are faster
    governor = _governor(machine, probe_every=8)
    for _ in range(40):
        governor.run(1, machine.step)
    assert governor.current == 2 and machine.calls.count(1) == 40 // 8  # probes only
    machine.costs = {2: 0.460, 1: 0.211}  # a busy process took a core
    for _ in range(9):
        governor.run(1, machine.step)
    assert governor.current == 1 and machine.threads == 1
    machine.costs = {2: 0.175, 1: 0.211}  # free again
    for _ in range(9):
        governor.run(1, machine.step)
    assert governor.current == 2


def test_a_difference_within_the_margin_or_at_another_row_count_does_not_switch():
    machine = FakeMachine({2: 0.470, 1: 0.450})  # 4 % apart: noise, not a reason
    governor = _governor(machine, probe_every=4, margin=0.1)
    for _ in range(40):
        governor.run(3, machine.step)
    assert governor.current == 2
    machine.costs = {2: 0.9, 1: 0.2}
    for step in range(8):  # probes land on a row count never timed at the current count
        governor.run(3 if step % 4 != 3 else 4, machine.step)
    assert governor.current == 2


def test_a_failing_step_restores_the_current_count():
    machine = FakeMachine({2: 0.1, 1: 0.1})
    governor = _governor(machine, probe_every=1)
    governor.run(1, machine.step)

    def boom() -> None:
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError):
        governor.run(1, boom)  # a probe
    assert machine.threads == governor.current == 2


def test_choices_and_settings():
    assert thread_choices(2) == [2, 1] and thread_choices(16) == [16, 8, 1] and thread_choices(1) == [1]
    assert cpu_thread_governor(torch.device("meta"), "auto") is None
    with pytest.raises(ValueError, match="cpu_threads"):
        cpu_thread_governor(torch.device("cpu"), 0)


def test_an_engine_with_auto_threads_decodes_as_one_with_a_fixed_count(tiny_checkpoint):
    threads = torch.get_num_threads()
    try:
        request = SynthesisRequest(
            text="Threads do not change the words.",
            speaker="vivian",
            seed=3,
            max_new_frames=12,
            min_new_frames=12,
        )
        fixed = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), cpu_threads=1)
        assert fixed._batch.governor is None and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        auto = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"))
        assert auto._batch.governor is not None and auto._batch.governor.choices == [2, 1]
        governor = auto._batch.governor
        governor.probe_every = 2  # switch often: every other step probes one thread
        counts: list[int] = []
        governor._set_threads = lambda count: (counts.append(count), torch.set_num_threads(count))
        torch.testing.assert_close(
            auto.synthesize(request).codes, fixed.synthesize(request).codes, rtol=0, atol=0
        )
    finally:
        torch.set_num_threads(threads)


def test_the_config_key_reaches_the_engine_and_bad_values_name_it(tmp_path):
    import inspect

    from common.settings import SettingsError, load_settings
    from workers.engine_loading import engine_options

    accepted = set(inspect.signature(TTSEngine.__init__).parameters)

    def settings(text: str):
        path = tmp_path / "config.yaml"
        path.write_text(text)
        return load_settings(env={"TTS_CONFIG": str(path)})

    assert engine_options(load_settings(env={}), accepted)["cpu_threads"] == "auto"
    assert engine_options(settings("optimization:\n  cpu_threads: 1\n"), accepted)["cpu_threads"] == 1
    for bad in ("0", "many"):
        with pytest.raises(SettingsError, match="cpu_threads"):
            settings(f"optimization:\n  cpu_threads: {bad}\n")
