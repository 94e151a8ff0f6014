"""The voice library web page: ``/ui`` (plain HTML) and ``/ui/voices.js`` (vanilla JS, no build step).

The page talks only to the public API (``/v1/voices``, ``/v1/audio/speech``), with the API key the user types
(kept in the browser's localStorage) when the server has keys.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@router.get("/ui")
async def page() -> HTMLResponse:
    csp = "default-src 'self'; media-src 'self' blob:; style-src 'self' 'unsafe-inline'"
    return HTMLResponse(_read("index.html"), headers={**_HEADERS, "Content-Security-Policy": csp})


@router.get("/ui/")
async def page_slash() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/ui/voices.js")
async def script() -> Response:
    return Response(_read("voices.js"), media_type="text/javascript", headers=_HEADERS)
