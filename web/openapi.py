"""The OpenAPI document, made to say what the server sends.

FastAPI declares a 422 with its own error schema on every route that validates input; this app answers those
errors with 400 in the OpenAI envelope (``web.errors``). So the document is post-processed once: each 422
becomes a 400, routes that take the bearer key (``web.deps.current_key``) get a 401, routes with a JSON body
a 415 (another Content-Type), all with the envelope schema. Statuses particular to a route (404, 409, 413,
429, 503) are declared on the route with ``web.errors.error_responses``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from web.errors import ERROR_STATUSES, ErrorEnvelope

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _error(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_STATUSES[status],
        "content": {"application/json": {"schema": {"$ref": ENVELOPE_REF}}},
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _error(400))
            if operation.get("security"):
                responses.setdefault("401", _error(401))
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("415", _error(415))
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas.setdefault("ErrorEnvelope", envelope)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
