"""The /ui/jobs page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright, as in
tests/voices): submit a two-chapter text, watch the progress bar fill, download the audio, cancel, delete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.embedded import EmbeddedServer, embedded_server
from tests.service.fake_engine import FakeEngine

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)
MODEL = "fake-CustomVoice"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine("custom_voice", delay_s=0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: FakeEngine) -> Iterator[EmbeddedServer]:
    with embedded_server(tmp_path_factory.mktemp("ui"), {MODEL: engine}) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: EmbeddedServer) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.url}/ui/jobs")
    yield page
    context.close()


def submit(page: Page, text: str, fmt: str = "wav") -> str:
    page.fill("#job-text", text)
    page.select_option("#job-format", fmt)
    page.click("#submit-job")
    # locator assertions poll without evaluating strings, which the page's CSP (no 'unsafe-eval') forbids
    expect(page.locator("#status")).to_contain_text("submitted")
    return page.locator("#status").inner_text().split()[1].rstrip(":")


def test_a_book_is_submitted_watched_and_downloaded(page: Page, tmp_path: Path) -> None:
    job_id = submit(
        page, "# Opening\nThe first chapter. It has two sentences.\n# Ending\nThe second chapter."
    )
    row = page.locator(f'tr[data-job-id="{job_id}"][data-status="succeeded"]')
    row.wait_for()
    bar = row.locator("progress")
    assert bar.get_attribute("value") == bar.get_attribute("max")
    links = row.locator(".downloads a")
    assert links.all_inner_texts() == ["Whole (wav)", "Opening", "Ending"]
    with page.expect_download() as download:
        row.locator('.downloads a[data-chapter="1"]').click()
    saved = tmp_path / "ending.wav"
    download.value.save_as(saved)
    assert saved.read_bytes()[:4] == b"RIFF" and saved.stat().st_size > 44


def test_a_running_job_is_canceled_then_deleted_from_the_page(page: Page) -> None:
    job_id = submit(page, " ".join(f"Sentence {n} takes a while to speak." for n in range(30)), fmt="pcm")
    running = page.locator(f'tr[data-job-id="{job_id}"][data-status="running"]')
    running.get_by_role("button", name="Cancel").click()
    canceled = page.locator(f'tr[data-job-id="{job_id}"][data-status="canceled"]')
    canceled.wait_for()
    canceled.get_by_role("button", name="Delete").click()
    page.locator(f'tr[data-job-id="{job_id}"]').wait_for(state="detached")


def test_the_voice_page_links_to_the_jobs_page(page: Page, server: EmbeddedServer) -> None:
    page.goto(f"{server.url}/ui")
    page.get_by_role("link", name="Long-form jobs").click()
    page.wait_for_url("**/ui/jobs")
