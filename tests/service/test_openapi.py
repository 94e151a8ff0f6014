"""``/docs`` and ``/redoc`` work offline (every URL they load is this server's, and answers), and the OpenAPI
document declares the statuses the server sends — 400, not FastAPI's 422 — each error with the envelope."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service.full_server import FullServer, full_server

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
_URL_ATTRIBUTE = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|\burl: '([^']+)'|\+ '(/[^']+)'""")


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullServer]:
    with full_server(Path(tmp_path_factory.mktemp("openapi"))) as server:
        yield server


@pytest.fixture(scope="module")
def spec(base_url: str) -> dict[str, Any]:
    return httpx.get(f"{base_url}/openapi.json", timeout=10).json()


@pytest.mark.parametrize(
    ("page", "assets"),
    [("/docs", {"js", "css", "png", "json"}), ("/redoc", {"js", "png", "json"})],
)
def test_docs_pages_load_only_from_this_server(base_url: str, page: str, assets: set[str]) -> None:
    html = httpx.get(f"{base_url}{page}", timeout=10).text
    assert "http://" not in html and "https://" not in html  # no CDN, no fonts, no validator badge
    urls = {next(g for g in match.groups() if g) for match in _URL_ATTRIBUTE.finditer(html)}
    assert {Path(urlsplit(u).path).suffix.lstrip(".") or "html" for u in urls} >= assets
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        response = httpx.get(f"{base_url}{url}", timeout=10)
        assert response.status_code == 200 and response.content, url
        suffix = Path(url).suffix
        expected = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
        assert expected.get(suffix, "text/html") in response.headers["content-type"], url


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_no_422_and_every_error_carries_the_envelope(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorEnvelope"]["properties"]) == {"error"}
    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in responses, (method, path)  # validation errors are 400s
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ENVELOPE_REF}


DECLARED = {
    ("post", "/v1/audio/speech"): {"400", "401", "415", "429", "503"},
    ("get", "/v1/models"): {"401"},
    ("get", "/v1/models/{model_id}"): {"401", "404"},
    ("post", "/v1/voices"): {"400", "401", "409", "413", "415", "503"},
    ("patch", "/v1/voices/{voice_id}"): {"400", "401", "404", "409", "413", "415", "503"},
    ("post", "/v1/audio/voices"): {"400", "401", "409", "413", "415", "503"},
    ("post", "/v1/jobs"): {"400", "401", "409", "415", "503"},
    ("post", "/v1/jobs/{job_id}/cancel"): {"401", "404", "409"},
    ("get", "/v1/jobs/{job_id}/audio"): {"401", "404", "409"},
    ("get", "/readyz"): {"503"},
}


@pytest.mark.parametrize(("method", "path"), list(DECLARED), ids=[f"{m} {p}" for m, p in DECLARED])
def test_routes_declare_their_error_statuses(spec: dict[str, Any], method: str, path: str) -> None:
    assert set(spec["paths"][path][method]["responses"]) >= DECLARED[method, path]


def test_speech_declares_its_audio_content_types(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/wav", "audio/pcm", "text/event-stream"} <= set(content)


def _declared_length_only(url: str, path: str, length: int, headers: dict[str, str]) -> int:
    """POST announcing ``length`` bytes and sending almost none: the cap answers before the body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(length))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(b"--x")
        return connection.getresponse().status
    finally:
        connection.close()


SENT: list[tuple[str, str, str, dict[str, Any], int]] = [
    # (method, route, url path, request kwargs, status the server answers)
    (
        "post",
        "/v1/audio/speech",
        "/v1/audio/speech",
        {"json": {"input": "Hi", "voice": "alloy", "speed": 9}},
        400,
    ),
    (
        "post",
        "/v1/audio/speech",
        "/v1/audio/speech",
        {"content": "{}", "headers": {"content-type": "text/plain"}},
        415,
    ),
    ("get", "/v1/models/{model_id}", "/v1/models/tts-9", {}, 404),
    ("get", "/v1/voices", "/v1/voices", {"params": {"limit": 0}}, 400),
    ("get", "/v1/voices/{voice_id}", "/v1/voices/voice_nope", {}, 404),
    ("delete", "/v1/voices/{voice_id}", "/v1/voices/voice_nope", {}, 404),
    (
        "post",
        "/v1/voices",
        "/v1/voices",
        {"data": {"ref_text": "x"}, "files": {"file": ("a.wav", b"RIFF")}},
        400,
    ),
    ("post", "/v1/voices", "/v1/voices", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
    (
        "post",
        "/v1/jobs",
        "/v1/jobs",
        {"json": {"voice": "alloy", "input": "Hi", "response_format": "ogg"}},
        400,
    ),
    ("post", "/v1/jobs", "/v1/jobs", {"data": {"voice": "alloy", "input": "Hi"}}, 415),
    ("get", "/v1/jobs/{job_id}", "/v1/jobs/job_nope", {}, 404),
    ("get", "/v1/jobs/{job_id}/audio", "/v1/jobs/job_nope/audio", {}, 404),
]


def test_what_the_server_sends_is_what_the_document_declares(full: FullServer) -> None:
    spec = httpx.get(f"{full.url}/openapi.json", timeout=10).json()
    sent = [(m, route, status) for m, route, _, _, status in SENT]
    for method, _route, path, kwargs, status in SENT:
        response = httpx.request(
            method, f"{full.url}{path}", headers=full.auth | kwargs.pop("headers", {}), timeout=10, **kwargs
        )
        assert response.status_code == status, (method, path, response.text)
        assert set(response.json()) == {"error"}
    for method, route in {(m, r) for m, r, _, _, _ in SENT} | {("get", "/v1/models"), ("post", "/v1/jobs")}:
        unauthenticated = httpx.request(
            method, f"{full.url}{route.replace('{', '').replace('}', '')}", timeout=10
        )
        assert unauthenticated.status_code == 401
        sent.append((method, route, 401))
    assert _declared_length_only(full.url, "/v1/voices", 10**9, full.auth) == 413
    sent.append(("post", "/v1/voices", 413))
    for method, route, status in sent:
        assert str(status) in spec["paths"][route][method]["responses"], (method, route, status)


def test_a_route_the_server_lacks_answers_a_declared_503(base_url: str, spec: dict[str, Any]) -> None:
    """The plain test server has no voice library and no jobs: their routes say 503, as declared."""
    for method, route in [("get", "/v1/voices"), ("get", "/v1/jobs")]:
        assert httpx.request(method, f"{base_url}{route}", timeout=10).status_code == 503
        assert "503" in spec["paths"][route][method]["responses"]
