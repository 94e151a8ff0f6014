"""The /ui page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download):
upload a file, see it listed, edit its transcript, preview it with streamed playback, record one from the
(fake) microphone, delete them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.voices.conftest import VoiceServer, unique
from tests.voices.fakes import recording

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAMPLES_PER_FRAME = 1920
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)

pytestmark = [
    pytest.mark.parametrize("stores", ["sqlite+local"], indirect=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]


@pytest.fixture(scope="module")
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


@pytest.fixture
def page(browser: Browser, voice_server: VoiceServer) -> Iterator[Page]:
    context = browser.new_context(permissions=["microphone"])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation
    page.goto(f"{voice_server.url}/ui")
    yield page
    context.close()


def row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-voice-name="{name}"]')


def test_upload_list_edit_preview_delete(page: Page, voice_server: VoiceServer, tmp_path: Path) -> None:
    name = unique("Browser")
    audio = tmp_path / "reference.wav"
    audio.write_bytes(recording(2.0))
    page.fill("#voice-name", name)
    page.set_input_files("#voice-file", str(audio))
    page.fill("#voice-text", "Words of the reference.")
    page.click("#save")
    listed = row(page, name)
    listed.wait_for()
    voice_id = listed.get_attribute("data-voice-id")
    api = f"{voice_server.url}/v1/voices/{voice_id}"
    assert httpx.get(api).json()["ref_text"] == "Words of the reference."

    listed.locator("textarea.transcript").fill("Edited words.")
    listed.get_by_role("button", name="Save transcript").click()
    expect(page.locator("#status")).to_contain_text("saved")
    assert httpx.get(api).json()["ref_text"] == "Edited words."

    text = "Hello!"
    page.fill("#preview-text", text)
    listed.get_by_role("button", name="Preview").click()
    page.wait_for_selector('#status[data-state="done"]')
    status = page.locator("#status")
    expected_bytes = (len(text) + 2) * SAMPLES_PER_FRAME * 2  # the fake engine: (chars + 2) frames of s16le
    assert int(status.get_attribute("data-bytes")) == expected_bytes
    assert status.get_attribute("data-audio") == "running"  # Web Audio was playing what arrived
    assert voice_server.base_engine.records[-1].request.voice_clone.ref_text == "Edited words."

    listed.get_by_role("button", name="Delete").click()
    listed.wait_for(state="detached")
    assert httpx.get(api).status_code == 404


def test_record_from_the_microphone(page: Page, voice_server: VoiceServer) -> None:
    name = unique("Mic")
    page.click("#record")
    page.wait_for_selector("text=Stop recording")
    page.wait_for_timeout(2500)
    page.click("#record")
    expect(page.locator("#recording")).to_have_text(re.compile(r"^Recorded"))
    page.fill("#voice-name", name)
    page.click("#save")
    listed = row(page, name)
    listed.wait_for()
    voice = httpx.get(f"{voice_server.url}/v1/voices", params={"name": name}).json()["data"][0]
    assert voice["original_content_type"] in {"audio/webm", "audio/ogg"} and voice["x_vector_only"]
    assert voice["duration_s"] >= 1.0
    listed.get_by_role("button", name="Delete").click()
    listed.wait_for(state="detached")
