"""The web pages: the voice library at ``/ui``, the jobs view at ``/ui/jobs`` (plain HTML + vanilla JS).

The pages talk only to the public API (``/v1/voices``, ``/v1/audio/speech``, ``/v1/jobs``) with the API key
the user types (kept in the browser's localStorage) when the server has keys. ``common.js`` holds what both
share.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from common.errors import NotFound

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_CSP = "default-src 'self'; media-src 'self' blob:; style-src 'self' 'unsafe-inline'"
_SCRIPTS = frozenset({"common.js", "voices.js", "jobs.js"})


@functools.cache  # package data: read once per process, not on every page load (in the event loop)
def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(_read(name), headers={**_HEADERS, "Content-Security-Policy": _CSP})


@router.get("/")
async def home() -> RedirectResponse:
    """A newcomer opening the server in a browser lands on the web page."""
    return RedirectResponse("/ui")


@router.get("/ui")
async def voices_page() -> HTMLResponse:
    return _page("index.html")


@router.get("/ui/")
async def voices_page_slash() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/ui/jobs")
async def jobs_page() -> HTMLResponse:
    return _page("jobs.html")


@router.get("/ui/{name}")
async def script(name: str) -> Response:
    if name not in _SCRIPTS:
        raise NotFound(f"no page asset {name!r}")
    return Response(_read(name), media_type="text/javascript", headers=_HEADERS)
