"""Request bodies with a size cap enforced while they stream in, for the routes that take audio uploads.

A declared ``Content-Length`` over the cap is refused before a byte of the body is read; a body without one
(chunked) is counted as it arrives and refused the moment it passes the cap. Either way the client gets a
413 in the OpenAI envelope, and the server never holds more than the cap (multipart files spool to disk).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from common.errors import InvalidRequest, ServiceError

FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and the small text fields


class PayloadTooLarge(ServiceError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


@dataclass(frozen=True, slots=True)
class UploadBody:
    """A parsed upload: text fields and at most one file's bytes, from multipart or JSON."""

    fields: dict[str, Any]
    file: bytes | None
    file_param: str | None  # the field the file came in (for error messages)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the {max_bytes} bytes accepted here")


def capped(request: Request, max_bytes: int) -> Request:
    """``request`` whose body raises ``PayloadTooLarge`` as soon as more than ``max_bytes`` arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    received = 0
    receive = request.receive

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise _too_large(max_bytes)
        return message

    return Request(request.scope, counting_receive)


async def read_upload(request: Request, *, max_file_bytes: int, file_fields: tuple[str, ...]) -> UploadBody:
    """Parse a multipart form or a JSON object (file as base64 in the first of ``file_fields``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        limited = capped(request, max_file_bytes + FORM_OVERHEAD_BYTES)
        async with limited.form(max_files=1, max_fields=20) as form:
            return await _from_form(form, file_fields)
    if content_type == "application/json":
        limited = capped(request, max_file_bytes * 4 // 3 + FORM_OVERHEAD_BYTES)  # base64 inflates by 4/3
        return _from_json(await limited.body(), file_fields)
    raise UnsupportedMediaType(
        f"send multipart/form-data or application/json, not {content_type or 'a body without a type'!r}"
    )


async def _from_form(form: FormData, file_fields: tuple[str, ...]) -> UploadBody:
    fields: dict[str, Any] = {}
    file, file_param = None, None
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key not in file_fields:
                raise InvalidRequest(f"unexpected file field {key!r}; send the audio as {file_fields[0]!r}")
            file, file_param = await value.read(), key
        else:
            fields[key] = value
    return UploadBody(fields=fields, file=file, file_param=file_param)


def _from_json(raw: bytes, file_fields: tuple[str, ...]) -> UploadBody:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as e:
        raise InvalidRequest("the request body is not valid JSON", code="invalid_json") from e
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    file, file_param = None, None
    for key in file_fields:
        if (encoded := data.pop(key, None)) is not None:
            file, file_param = decode_base64(encoded, param=key), key
    return UploadBody(fields=data, file=file, file_param=file_param)


def decode_base64(encoded: Any, *, param: str) -> bytes:
    """Standard or URL-safe base64, with or without a ``data:audio/...;base64,`` prefix."""
    if not isinstance(encoded, str):
        raise InvalidRequest(f"{param} must be a base64 string", param=param)
    text = encoded.split(",", 1)[1] if encoded.startswith("data:") else encoded
    text = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidRequest(f"{param} is not valid base64", param=param, code="invalid_base64") from e
