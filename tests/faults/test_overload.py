"""Overload is refused fast (issue 19): with every decode row busy and the expected queue wait past
``max_queue_wait_s``, a burst of requests gets 429 with Retry-After within a second each, not a 503 after
minutes; once the rows free, requests are served again."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.service.fake_engine import FakeEngine
from tests.service.harness import fake_services, serve
from web.app import create_app
from workers.embedded import InProcessDispatcher

HELD = {  # ~230 chunks × 20 ms: a stream that holds its row for seconds
    "model": "tts-1",
    "voice": "alloy",
    "input": "Long enough to keep streaming. " * 15,
    "response_format": "pcm",
    "stream": True,
}
BURST = 16


def test_a_burst_beyond_the_rows_gets_429_with_retry_after_within_a_second() -> None:
    services = fake_services(
        {"slow-CustomVoice": FakeEngine(delay_s=0.02)}, max_queue_wait_s=1.0, max_queue_depth=1000
    )
    host = services.dispatcher._host  # one decode row: the second request would wait a whole request
    services.dispatcher = InProcessDispatcher(host, max_buffered_chunks=2, rows=1)
    with serve(create_app(services)) as url:
        started, release = threading.Event(), threading.Event()

        def hold() -> None:
            with httpx.stream("POST", f"{url}/v1/audio/speech", json=HELD, timeout=60) as response:
                assert response.status_code == 200
                for _ in response.iter_bytes():  # read on: a reader that stops is dropped as too slow
                    started.set()
                    if release.is_set():
                        break

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert started.wait(30)

            def one(_: int) -> tuple[int, float, str | None]:
                begun = time.monotonic()
                response = httpx.post(f"{url}/v1/audio/speech", json=HELD, timeout=30)
                return response.status_code, time.monotonic() - begun, response.headers.get("retry-after")

            with ThreadPoolExecutor(BURST) as pool:
                answers = list(pool.map(one, range(BURST)))
            assert {status for status, _, _ in answers} == {429}, answers
            assert max(seconds for _, seconds, _ in answers) < 1.0, answers
            assert all(retry is not None and int(retry) >= 1 for _, _, retry in answers)
        finally:
            release.set()
            holder.join(30)
        deadline = time.monotonic() + 30
        while (again := httpx.post(f"{url}/v1/audio/speech", json=HELD, timeout=60)).status_code == 429:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.2)
        assert again.status_code == 200
