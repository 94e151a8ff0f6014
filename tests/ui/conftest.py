"""The web pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download)
against the embedded composition as ``qwen3-tts serve --demo`` builds it: SQLite, local blobs, jobs, and the
tiny random-weight CustomVoice, VoiceDesign and Base models (real engine, noise for audio).

Screenshots go to ``.cache/ui-screenshots/`` (gitignored), at the two sizes the pages are judged at."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.tiny_server import tiny_server

pytest.importorskip("qwen_tts.tiny_checkpoint")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".cache" / "ui-screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
MAX_FRAMES = 6  # half a second of noise per piece: the tiny models seldom stop by themselves
TIMEOUT_S = 120
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)

if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    jobs = {"segment_chars": 64, "relay_poll_s": 0.1, "chapter_pause_ms": 200.0}
    jobs |= {"webhook_allow_private": True, "webhook_timeout_s": 2.0, "webhook_retry_schedule_s": (0.2, 0.2)}
    data_dir = Path(tmp_path_factory.mktemp("ui"))
    with tiny_server(data_dir, max_frames=MAX_FRAMES, timeout_s=TIMEOUT_S, jobs=jobs) as server:
        yield server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
                "--use-fake-device-for-media-stream",  # a synthetic microphone (a beep)
            ],
        )
        yield browser
        browser.close()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, server_url: str) -> Iterator[OpenPage]:
    """``open_page("/ui/voices", viewport=PHONE)``: a fresh tab (its own sessionStorage) on that page."""
    contexts = []

    def open_(path: str, viewport: dict[str, int] = DESKTOP, color_scheme: str = "light") -> Page:
        context = browser.new_context(
            viewport=viewport,
            color_scheme=color_scheme,  # type: ignore[arg-type]
            permissions=["microphone"],
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmations
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server_url}{path}")
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield open_
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str, *, top: bool = False) -> Path:
    """The window as shown (not the full scroll height: what the user sees); ``top``: scrolled up first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    size = page.viewport_size or DESKTOP
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path


def assert_in_viewport(locator: Locator) -> None:
    """Visible and wholly inside the window, without scrolling."""
    expect(locator).to_be_visible()
    expect(locator).to_be_in_viewport(ratio=1.0)


def assert_fits_width(page: Page) -> None:
    """No horizontal scrolling: nothing wider than the window (the phone layout)."""
    width = (page.viewport_size or DESKTOP)["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
