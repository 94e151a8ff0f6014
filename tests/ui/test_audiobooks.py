"""The audiobooks page (``/ui/jobs``): a Markdown file becomes chapters at its headings (titles editable),
the job is shown by its title and time, watched until it finishes (events when the server has them, polling
until then), its chapters played and downloaded, the whole m4b too; a running job is canceled, a finished
one deleted."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.jobs.receiver import run_receiver
from tests.ui.conftest import PHONE, OpenPage, assert_fits_width, assert_in_viewport, screenshot
from tests.voices.conftest import unique

BOOK = """# The Harbour
The boats came in at dawn. Nobody spoke.

# The Lighthouse
A light turned all night long.
"""


def submit_file(page: Page, tmp_path: Path, title: str, text: str, fmt: str) -> Page:
    book = tmp_path / f"{title}.md"
    book.write_text(text, encoding="utf-8")
    page.set_input_files("#job-file", str(book))
    expect(page.locator("#job-title")).to_have_value(title)  # named after the file
    page.locator("#job-format").select_option(fmt)
    page.click("#submit-job")
    expect(page.locator("#status")).to_contain_text(f'"{title}" submitted')
    return page


def test_a_book_from_a_file_is_watched_played_and_downloaded(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page("/ui/jobs")
    title = unique("Sea Stories")
    book = tmp_path / f"{title}.md"
    book.write_text(BOOK, encoding="utf-8")
    page.set_input_files("#job-file", str(book))
    titles = page.locator("#chapter-titles input")
    expect(titles).to_have_count(2)
    expect(titles.nth(0)).to_have_value("The Harbour")
    titles.nth(1).fill("The Lighthouse at Night")  # an edited title is what the book announces
    page.locator("#job-format").select_option("m4b")
    page.click("#submit-job")
    expect(page.locator("#status")).to_contain_text(f'"{title}" submitted: 2 chapters')
    job_id = page.locator("#status").get_attribute("data-job-id")

    card = page.locator(f'li.card[data-job-id="{job_id}"]')
    expect(card.locator("h3")).to_have_text(title)  # by title and time, not by id
    expect(card).to_contain_text("today")
    done = page.locator(f'li.card[data-job-id="{job_id}"][data-status="succeeded"]')
    expect(done).to_be_visible()
    chapters = done.locator(".chapters li")
    expect(chapters).to_have_count(3)
    expect(chapters.nth(0)).to_contain_text("Whole book (m4b)")
    expect(done.locator('.chapters li[data-chapter="1"]')).to_contain_text("The Lighthouse at Night")

    chapter = done.locator('.chapters li[data-chapter="0"]')
    chapter.get_by_role("button", name="Play").click()
    expect(chapter.locator("audio")).to_be_visible()
    expect(page.locator("#list-message")).to_have_text("")  # no "playback failed"
    audio = chapter.locator("audio").element_handle()
    refreshes = int(page.locator("#jobs").get_attribute("data-refreshes") or 0)
    page.fill("#api-key", "sk-any")  # a new key reloads the list, as a poll or an event does
    page.locator("#api-key").press("Tab")
    expect(page.locator("#jobs")).to_have_attribute("data-refreshes", str(refreshes + 1))
    assert audio.evaluate("audio => audio.isConnected && audio.currentSrc !== ''")  # the card was kept
    expect(page.locator("#list-message")).to_have_text("")
    with page.expect_download() as download:
        chapter.get_by_role("link", name="Download").click()
    saved = tmp_path / "chapter.m4a"
    download.value.save_as(saved)
    assert saved.read_bytes()[4:8] == b"ftyp"
    with page.expect_download() as whole:
        done.locator('.chapters li[data-chapter="all"]').get_by_role("link", name="Download").click()
    assert whole.value.suggested_filename.endswith(".m4b")
    assert_in_viewport(done.locator("h3"))
    screenshot(page, "jobs", top=True)


def test_a_running_book_is_canceled_then_deleted(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page("/ui/jobs")
    title = unique("Long")
    text = "# One\n" + " ".join(f"Sentence {n} takes a while to speak." for n in range(40))
    submit_file(page, tmp_path, title, text, "mp3")
    job_id = page.locator("#status").get_attribute("data-job-id")
    running = page.locator(f'li.card[data-job-id="{job_id}"]:not([data-status="succeeded"])')
    expect(running.locator("progress").first).to_be_visible()
    expect(running.locator('.progress-list li[data-chapter="0"]')).to_contain_text("One")  # per chapter
    running.get_by_role("button", name="Cancel").click()
    canceled = page.locator(f'li.card[data-job-id="{job_id}"][data-status="canceled"]')
    expect(canceled).to_be_visible()
    canceled.get_by_role("button", name="Delete").click()
    expect(page.locator(f'li.card[data-job-id="{job_id}"]')).to_have_count(0)


def test_the_webhook_delivery_is_shown(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page("/ui/jobs")
    with run_receiver() as receiver:
        page.fill("#job-callback", receiver.url)
        submit_file(page, tmp_path, unique("Hooked"), "# Only\nA short one.", "wav")
        job_id = page.locator("#status").get_attribute("data-job-id")
        card = page.locator(f'li.card[data-job-id="{job_id}"]')
        expect(card.locator(".webhook")).to_have_text("Webhook delivered (200)")
        assert len(receiver.deliveries) == 1


def test_an_empty_text_is_refused_next_to_the_form(open_page: OpenPage) -> None:
    page = open_page("/ui/jobs")
    page.click("#submit-job")
    message = page.locator("#status")
    expect(message).to_contain_text("Paste a text")
    assert_in_viewport(message)


def test_the_phone_layout_fits(open_page: OpenPage) -> None:
    page = open_page("/ui/jobs", viewport=PHONE)
    assert_fits_width(page)
    page.fill("#job-text", BOOK)
    expect(page.locator("#chapter-titles input")).to_have_count(2)
    screenshot(page, "jobs", top=True)
