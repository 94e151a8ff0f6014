"""The web pages: the playground at ``/ui`` (where ``/`` leads), the voice library at ``/ui/voices`` and the
audiobook jobs at ``/ui/jobs`` (plain HTML, one stylesheet, vanilla JS: no build step, no CDN, works offline).

The pages talk only to the public API (``/v1/audio/speech``, ``/v1/audio/voices``, ``/v1/models``,
``/v1/voices``, ``/v1/jobs``) with the API key the user types (kept for the tab in sessionStorage) when the
server has keys. ``common.js`` holds what the pages share, ``player.js`` the streamed playback.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from common.errors import NotFound

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_CSP = "default-src 'self'; media-src 'self' blob:; style-src 'self' 'unsafe-inline'"


@dataclass(frozen=True, slots=True)
class _Page:
    path: str
    tab: str  # its link in the header, and its <title>
    main: str  # the file with its <main>
    scripts: tuple[str, ...]  # after common.js


_PAGES = {
    "": _Page("/ui", "Playground", "playground.html", ("player.js", "playground.js")),
    "voices": _Page("/ui/voices", "Voices", "voices.html", ("player.js", "voices.js")),
    "jobs": _Page("/ui/jobs", "Audiobooks", "jobs.html", ("jobs.js",)),
}
_ASSETS = {
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
    "common.js": "text/javascript",
    "player.js": "text/javascript",
    "playground.js": "text/javascript",
    "voices.js": "text/javascript",
    "jobs.js": "text/javascript",
}


@functools.cache  # package data: read once per process, not on every page load (in the event loop)
def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def _html(key: str) -> str:
    """One page: ``shell.html`` (head, header with the tabs, the shared script) around its ``<main>``."""
    page = _PAGES[key]
    current = ' aria-current="page"'
    tabs = "".join(f'<a href="{p.path}"{current if p is page else ""}>{p.tab}</a>' for p in _PAGES.values())
    scripts = "\n".join(f'  <script src="/ui/{name}"></script>' for name in page.scripts)
    return (
        _read("shell.html")
        .replace("<!--title-->", page.tab)
        .replace("<!--tabs-->", tabs)
        .replace("<!--main-->", _read(page.main))
        .replace("<!--scripts-->", scripts)
    )


def _page(key: str) -> HTMLResponse:
    return HTMLResponse(_html(key), headers={**_HEADERS, "Content-Security-Policy": _CSP})


@router.get("/")
async def home() -> RedirectResponse:
    """A newcomer opening the server in a browser lands on the playground."""
    return RedirectResponse("/ui")


@router.get("/ui")
async def playground_page() -> HTMLResponse:
    return _page("")


@router.get("/ui/")
async def playground_slash() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/ui/{name}")
async def page_or_asset(name: str) -> Response:
    """``/ui/voices`` and ``/ui/jobs`` are pages; the rest are the pages' stylesheet and scripts."""
    if name in _PAGES:
        return _page(name)
    if name not in _ASSETS:
        raise NotFound(f"no page or page asset {name!r}")
    return Response(_read(name), media_type=_ASSETS[name], headers=_HEADERS)
