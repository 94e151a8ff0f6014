"""The one place that turns errors into the OpenAI envelope ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import RateLimited, ServiceError
from common.validation import error_reason
from voice_store.db import DATABASE_UNAVAILABLE
from voice_store.errors import (
    AuthenticationError,
    BlobStoreError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)

log = logging.getLogger(__name__)

UNAVAILABLE_RETRY_AFTER_S = 2
"""Seconds a 503 (an outage, no worker yet) asks the client to wait before retrying."""

_HTTP_TYPES = {401: "invalid_request_error", 403: "invalid_request_error", 404: "invalid_request_error"}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """What every error answer carries (OpenAI's shape)."""

    error: ErrorDetail


ERROR_STATUSES = {
    400: "Invalid request: malformed JSON, a field out of range, an unknown model or voice",
    401: "Missing or invalid API key (once the server has keys)",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Wrong Content-Type",
    429: "Too many concurrent streams or a full queue; see Retry-After",
    503: "Not ready, or not offered by this server",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses it answers, each with the envelope schema."""
    return {status: {"model": ErrorEnvelope, "description": ERROR_STATUSES[status]} for status in statuses}


def envelope(
    status: int, message: str, *, type_: str, code: str | None, param: str | None = None, headers: Any = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
    if exc.status == 503:  # an outage or no worker yet: the client may retry
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}
    if exc.status >= 500:
        log.error("request failed: %s", exc.message, exc_info=exc.__cause__ or exc)
    return envelope(exc.status, exc.message, type_=exc.type, code=exc.code, param=exc.param, headers=headers)


_STORE_STATUSES: tuple[tuple[type[StoreError], int, str, str], ...] = (
    (NotFoundError, 404, "invalid_request_error", "not_found"),
    (ConflictError, 409, "invalid_request_error", "conflict"),
    (InvalidInputError, 400, "invalid_request_error", "invalid_request"),
    (AuthenticationError, 401, "invalid_request_error", "invalid_api_key"),
    (BlobStoreError, 503, "server_error", "storage_unavailable"),
)


def _store_error(_: Request, exc: Exception) -> JSONResponse:
    """``voice_store``'s typed errors (messages are safe to show). A specific error's code is its class in
    snake_case (``VoiceNameTaken`` → ``voice_name_taken``), a family base's the family's code; anything
    unmapped is a 500."""
    for family, status, type_, family_code in _STORE_STATUSES:
        if isinstance(exc, family):
            if status >= 500:
                log.error("storage failed: %s", exc, exc_info=exc)
            specific = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
            code = family_code if type(exc) is family else specific
            return envelope(status, str(exc), type_=type_, code=code)
    log.error("storage error", exc_info=exc)
    return internal_error()


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    if first.get("type") == "json_invalid":
        return envelope(
            400, "the request body is not valid JSON", type_="invalid_request_error", code="invalid_json"
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if tuple(first.get("loc", ()))[:1] == ("body",) and not content_type.endswith(("/json", "+json")):
        return _not_json(content_type)
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    param = loc[0] if loc else None  # OpenAI names the top-level parameter
    reason = error_reason(first)
    message = f"{param}: {reason}" if param else reason
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return envelope(400, message, type_="invalid_request_error", code="invalid_request", param=param)


def _not_json(content_type: str) -> JSONResponse:
    """A JSON route sent form data, text or no body: say what it takes instead of listing missing fields."""
    sent = f"{content_type!r}" if content_type else "a body without a Content-Type"
    return envelope(
        415,
        f"this endpoint takes a JSON object (Content-Type: application/json), not {sent}",
        type_="invalid_request_error",
        code="unsupported_media_type",
    )


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = _HTTP_TYPES.get(
        exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error"
    )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
    return envelope(exc.status_code, str(exc.detail), type_=type_, code=code, headers=exc.headers)


def internal_error() -> JSONResponse:
    """For an unexpected exception (logged by the caller, ``web.middleware``, which adds the request id)."""
    return envelope(500, "internal server error", type_="server_error", code="internal_error")


def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    """The database is down or restarting: a 503 the client may retry, never a 500."""
    log.warning("database unavailable: %s", type(exc).__name__, extra={"error": str(exc)[:200]})
    return envelope(
        503,
        "the database is unavailable; retry shortly",
        type_="server_error",
        code="database_unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
