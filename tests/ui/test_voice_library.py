"""The voice library (``/ui/voices``): a dropped file is previewed, saved with consent, found by search,
edited and renamed, previewed in its voice (heard through Web Audio) and deleted; a recording from the fake
microphone shows its level and length and is saved; a failing upload shows its error next to the form,
inside the 1366×768 window, and entering an API key clears it."""

from __future__ import annotations

import base64

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import PHONE, OpenPage, assert_fits_width, assert_in_viewport, screenshot
from tests.voices.conftest import unique
from tests.voices.fakes import recording


def drop_file(page: Page, data: bytes, filename: str) -> None:
    """A real drop event on the drop zone, carrying a File in its DataTransfer."""
    transfer = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "audio/wav" }));
            return transfer;
        }""",
        [base64.b64encode(data).decode(), filename],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def card(page: Page, name: str) -> Locator:
    return page.locator(f'li.card[data-voice-name="{name}"]')


def test_drop_save_search_edit_preview_delete(open_page: OpenPage, server_url: str) -> None:
    page = open_page("/ui/voices")
    name = unique("Dropped")
    drop_file(page, recording(2.0), f"{name}.wav")
    expect(page.locator("#take-audio")).to_be_visible()  # preview before saving
    expect(page.locator("#voice-name")).to_have_value(name)  # named after the file
    page.fill("#voice-text", "Words of the reference.")
    page.click("#save")
    message = page.locator("#upload-message")
    expect(message).to_contain_text("Confirm that you may clone")  # the consent box comes first
    assert_in_viewport(message)
    page.check("#consent")
    page.click("#save")
    expect(message).to_contain_text(f'Saved "{name}"')
    listed = card(page, name)
    expect(listed).to_be_visible()
    voice_id = listed.get_attribute("data-voice-id")
    assert httpx.get(f"{server_url}/v1/voices/{voice_id}").json()["ref_text"] == "Words of the reference."

    page.fill("#filter", name[-6:])
    expect(page.locator("#voices")).to_have_attribute("data-filter", name[-6:])
    expect(page.locator("li.card")).to_have_count(1)
    listed.locator("textarea.transcript").fill("Edited words.")
    listed.get_by_role("button", name="Save changes").click()
    expect(listed.locator(".message")).to_have_text("Changes saved.")
    assert httpx.get(f"{server_url}/v1/voices/{voice_id}").json()["ref_text"] == "Edited words."
    renamed = f"{name}-Renamed"
    listed.locator("input.rename").fill(renamed)
    listed.get_by_role("button", name="Save changes").click()
    expect(page.locator("#status")).to_contain_text(f'Renamed "{name}" to "{renamed}"')
    assert httpx.get(f"{server_url}/v1/voices/{voice_id}").json()["name"] == renamed
    name, listed = renamed, card(page, renamed)

    listed.get_by_role("button", name="Preview").click()
    expect(listed.locator(".message")).to_contain_text("Played")
    assert int(page.locator("body").get_attribute("data-audio-samples") or 0) > 0
    screenshot(page, "voices", top=True)

    listed.get_by_role("button", name="Delete").click()  # the confirmation is accepted by the fixture
    expect(listed).to_have_count(0)
    assert httpx.get(f"{server_url}/v1/voices/{voice_id}").status_code == 404
    expect(page.locator("#voices-empty")).to_contain_text("No voice matches")


def test_record_from_the_fake_microphone(open_page: OpenPage, server_url: str) -> None:
    page = open_page("/ui/voices")
    name = unique("Mic")
    page.click("#record")
    expect(page.locator("#record")).to_have_text("Stop recording")
    expect(page.locator("#clock")).to_have_text("0:02")  # the duration counter runs
    assert float(page.locator("#level").evaluate("meter => meter.value")) > 0  # the fake beep moves the meter
    page.click("#record")
    expect(page.locator("#recording")).to_contain_text("Recorded")
    expect(page.locator("#take-audio")).to_be_visible()
    page.fill("#voice-name", name)
    page.check("#consent")
    page.click("#save")
    expect(card(page, name)).to_be_visible()
    voice = httpx.get(f"{server_url}/v1/voices", params={"name": name}).json()["data"][0]
    assert voice["original_content_type"] in {"audio/webm", "audio/ogg"} and voice["x_vector_only"]
    assert voice["duration_s"] >= 1.0


def test_a_failing_upload_shows_its_error_in_view_and_a_key_clears_it(open_page: OpenPage) -> None:
    page = open_page("/ui/voices")
    page.set_input_files(
        "#voice-file", files=[{"name": "short.wav", "mimeType": "audio/wav", "buffer": recording(0.3)}]
    )
    page.fill("#voice-name", unique("Short"))
    page.check("#consent")
    page.click("#save")
    message = page.locator("#upload-message")
    expect(message).to_contain_text("Upload failed")
    expect(message).to_contain_text("at least")
    assert_in_viewport(message)
    expect(message).to_have_attribute("role", "alert")
    screenshot(page, "voices-upload-error")
    page.fill("#api-key", "sk-entered-later")
    page.locator("#api-key").press("Enter")
    page.locator("#voice-name").focus()  # "change" fires on leaving the field
    expect(message).to_have_text("")


def test_the_phone_layout_fits(open_page: OpenPage) -> None:
    page = open_page("/ui/voices", viewport=PHONE)
    assert_fits_width(page)
    assert_in_viewport(page.locator("#drop"))
    screenshot(page, "voices", top=True)
