"""The playground (``/ui``, where ``/`` leads): a built-in voice, a saved clone and a designed voice are
generated and heard while they stream (Web Audio received samples), mp3 plays through MediaSource, the
metrics and the history show, and generation works from the keyboard alone."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import PHONE, OpenPage, assert_fits_width, assert_in_viewport, screenshot
from tests.voices.conftest import unique
from tests.voices.fakes import recording


def heard(page: Page) -> int:
    """The samples Web Audio was given, once the generation is done (``<body data-audio-*>``)."""
    body = page.locator("body")
    expect(body).to_have_attribute("data-audio-state", "done")
    return int(body.get_attribute("data-audio-samples") or 0)


def test_a_built_in_voice_streams_and_is_kept_in_the_history(open_page: OpenPage, server_url: str) -> None:
    page = open_page("/")
    expect(page).to_have_url(f"{server_url}/ui")
    voice = page.locator("#voice")
    expect(voice.locator('option[value="alloy"]')).to_have_text("alloy (Vivian)")  # the OpenAI alias shown
    voice.select_option("echo")
    page.fill("#text", "Hello from a built-in speaker.")
    page.fill("#instructions", "Calm and warm.")
    page.locator("#speed").fill("1.25")
    page.click("#generate")
    assert heard(page) > 0
    assert page.locator("body").get_attribute("data-audio-context") == "running"
    expect(page.locator("#speak-message")).to_contain_text("Done")
    expect(page.locator("#ttfa")).to_contain_text(" ms")
    expect(page.locator("#rtf")).to_contain_text("×")
    item = page.locator("#history li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("echo (Ryan)")
    with page.expect_download() as download:
        item.get_by_role("link", name="Download wav").click()
    assert download.value.suggested_filename.endswith(".wav")
    assert_in_viewport(page.locator("#ttfa"))
    screenshot(page, "playground", top=True)


def test_a_saved_clone_is_generated_and_heard(open_page: OpenPage, server_url: str) -> None:
    name = unique("Clone")
    created = httpx.post(
        f"{server_url}/v1/voices",
        data={"name": name, "ref_text": "Words of the reference."},
        files={"file": ("ref.wav", recording(2.0), "audio/wav")},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    page = open_page(f"/ui?voice=clone:{name}")
    expect(page.locator("#voice")).to_have_value(f"clone:{name}")
    page.click("#generate")
    assert heard(page) > 0
    expect(page.locator("#history li")).to_contain_text(name)


def test_a_designed_voice_needs_its_description(open_page: OpenPage) -> None:
    page = open_page("/ui")
    page.locator("#voice").select_option("design:demo-VoiceDesign")
    expect(page.locator("#design")).to_be_visible()
    expect(page.locator("#instructions")).to_be_hidden()
    page.click("#generate")
    message = page.locator("#speak-message")
    expect(message).to_contain_text("Describe the voice")
    assert_in_viewport(message)
    page.fill("#design", "A bright young voice, fast and cheerful.")
    page.click("#generate")
    assert heard(page) > 0
    expect(message).not_to_have_class("message error")


def test_mp3_plays_through_media_source(open_page: OpenPage) -> None:
    page = open_page("/ui")
    page.locator("#format").select_option("mp3")
    page.fill("#text", "An mp3 this time.")
    page.click("#generate")
    body = page.locator("body")
    expect(body).to_have_attribute("data-audio-state", "done")
    assert int(body.get_attribute("data-audio-bytes") or 0) > 0
    expect(page.locator("#player")).to_be_visible()
    expect(page.locator("#history li").get_by_role("link", name="Download mp3")).to_be_visible()


def test_keyboard_only_generation(open_page: OpenPage) -> None:
    page = open_page("/ui")
    for _ in range(10):  # the page links and the key field come first
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "text":
            break
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.press("Control+A")
    page.keyboard.type("Spoken without a mouse.")
    page.keyboard.press("Control+Enter")
    assert heard(page) > 0
    page.keyboard.press("Tab")  # on to the voice picker, with a visible focus ring
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_the_phone_layout_fits(open_page: OpenPage) -> None:
    page = open_page("/ui", viewport=PHONE)
    assert_fits_width(page)
    assert_in_viewport(page.locator("#text"))
    page.click("#generate")
    assert heard(page) > 0
    page.locator("#history li").scroll_into_view_if_needed()
    screenshot(page, "playground-history")


def test_the_pages_link_to_each_other(open_page: OpenPage, server_url: str) -> None:
    page = open_page("/ui")
    for name, path in [("Voices", "/ui/voices"), ("Audiobooks", "/ui/jobs"), ("Playground", "/ui")]:
        page.get_by_role("navigation", name="Pages").get_by_role("link", name=name).click()
        expect(page).to_have_url(f"{server_url}{path}")
        expect(page.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")


def test_dark_and_light_follow_the_system(open_page: OpenPage) -> None:
    def background(page: Page) -> str:
        return page.evaluate("getComputedStyle(document.body).backgroundColor")

    light, dark = open_page("/ui"), open_page("/ui", color_scheme="dark")
    assert background(light) == "rgb(246, 247, 249)" and background(dark) == "rgb(15, 17, 21)"
    dark.fill("#text", "In the dark.")
    dark.click("#generate")
    assert heard(dark) > 0
    screenshot(dark, "playground-dark")


def test_an_api_key_is_remembered_for_the_tab(open_page: OpenPage, server_url: str) -> None:
    page = open_page("/ui")
    page.fill("#api-key", "sk-for-this-tab")
    page.locator("#api-key").press("Tab")  # "change" fires on leaving the field
    page.goto(f"{server_url}/ui/jobs")
    expect(page.locator("#api-key")).to_have_value("sk-for-this-tab")


@pytest.mark.parametrize("path", ["/ui", "/ui/voices", "/ui/jobs"])
def test_every_control_has_a_label(open_page: OpenPage, path: str) -> None:
    page = open_page(path)
    page.wait_for_load_state("networkidle")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, meter")]
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label"))
            .map((c) => c.id || c.outerHTML)"""
    )
    assert unlabelled == []
