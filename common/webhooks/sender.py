"""One webhook POST to an SSRF-checked address: redirects are never followed, every
socket wait is bounded.

``http.client`` is used directly so that the connection goes to ``Target.address`` (the address the guard
checked) while the ``Host`` header and TLS server name stay the URL's host; nothing here resolves names.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from common.webhooks.ssrf import Target

USER_AGENT = "qwen3-tts-webhooks/1"


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None  # None: no HTTP response (connection error, timeout)
    error: str | None = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout_s: float) -> SendResult:
    """POST ``body`` and read the status line; each connect/send/receive wait is capped at ``timeout_s``.

    The response body is not read: only the status matters, and a receiver cannot stall us with it.
    """
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, timeout_s)
    try:
        connection.request("POST", target.path, body=body, headers={**headers, "user-agent": USER_AGENT})
        return SendResult(connection.getresponse().status)
    except TimeoutError:
        return SendResult(None, f"timed out after {timeout_s:g} s")
    except (OSError, http.client.HTTPException) as e:
        return SendResult(None, f"{type(e).__name__}: {e}")
    finally:
        connection.close()
