from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.fake_engine import FakeEngine
from tests.service.harness import serve_fakes


@pytest.fixture(scope="module")
def engines() -> dict[str, FakeEngine]:
    return {
        "fake-CustomVoice": FakeEngine("custom_voice"),
        "fake-Base": FakeEngine("base", supports_instruct=False),
        "fake-VoiceDesign": FakeEngine("voice_design"),
        "fake-Small-CustomVoice": FakeEngine("custom_voice", supports_instruct=False),  # like 0.6B
    }


@pytest.fixture(scope="module")
def base_url(engines: dict[str, FakeEngine]) -> Iterator[str]:
    with serve_fakes(engines) as url:
        yield url
