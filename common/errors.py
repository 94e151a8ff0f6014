"""Domain errors shared by the web layer and the workers.

Services raise these; exactly one place (``web.errors``) turns them into the OpenAI error envelope. Each error
carries the HTTP status and the OpenAI ``type``/``code``/``param`` it maps to, so a worker can report an error
through a chunk stream as plain data (``code`` + ``message``) and the web side rebuilds the same error.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a client may see."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(ServiceError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class NotFound(ServiceError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class Unauthorized(ServiceError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class RateLimited(ServiceError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class SynthesisFailed(ServiceError):
    status = 500
    type = "server_error"
    code = "synthesis_failed"


class EncodingFailed(ServiceError):
    status = 500
    type = "server_error"
    code = "encoding_failed"


_BY_CODE: dict[str, type[ServiceError]] = {
    InvalidRequest.code: InvalidRequest,
    NotFound.code: NotFound,
    Unavailable.code: Unavailable,
    SynthesisFailed.code: SynthesisFailed,
}


def error_from_wire(code: str, message: str) -> ServiceError:
    """Rebuild a domain error reported as data by a worker (``{error: code, message}``)."""
    return _BY_CODE.get(code, SynthesisFailed)(message)
