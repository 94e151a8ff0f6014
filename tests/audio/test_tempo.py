"""``speed`` as atempo stages: the product is the speed, each stage within 0.5–2.0, out of range refused."""

from __future__ import annotations

import math

import pytest

from common.audio.tempo import atempo_stages


@pytest.mark.parametrize("speed", [0.25, 0.3, 0.5, 0.9, 1.5, 2.0, 3.0, 4.0])
def test_atempo_stages_multiply_to_the_speed_each_in_range(speed: float) -> None:
    stages = atempo_stages(speed)
    assert math.prod(stages) == pytest.approx(speed, rel=1e-9)
    assert stages and all(0.5 <= stage <= 2.0 for stage in stages)


def test_unit_speed_needs_no_stage() -> None:
    assert atempo_stages(1.0) == []


@pytest.mark.parametrize("speed", [0.2, 4.01, 0.0])
def test_atempo_stages_refuse_out_of_range(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        atempo_stages(speed)
