"""The jobs web page: ``/ui/jobs`` (plain HTML) and ``/ui/jobs.js`` (vanilla JS, no build step).

It talks only to the public ``/v1/jobs`` API, with the API key kept in localStorage by the voice page.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'"


def _read(name: str) -> str:
    return resources.files("web.ui").joinpath(name).read_text(encoding="utf-8")


@router.get("/ui/jobs")
async def jobs_page() -> HTMLResponse:
    return HTMLResponse(_read("jobs.html"), headers={**_HEADERS, "Content-Security-Policy": _CSP})


@router.get("/ui/jobs.js")
async def jobs_script() -> Response:
    return Response(_read("jobs.js"), media_type="text/javascript", headers=_HEADERS)
