"""Optional API keys (``Authorization: Bearer <key>`` or ``Api-Key <key>``).

With no key created, the server is open. Once a live key exists, every ``/v1`` route needs a valid one (the
Open WebUI listings unless ``public_listings``; ``/metrics`` also takes ``metrics_token``: ``web.deps``); keys
are stored hashed by ``voice_store`` and managed with ``qwen3-tts keys create|list|revoke``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    id: str
    max_concurrent_streams: int | None  # None: the server-wide default


class ApiKeys(Protocol):
    async def authenticate(self, token: str | None) -> KeyIdentity | None:
        """``None`` while no key exists (open server); else the key's identity or ``Unauthorized``."""
        ...


class OpenAccess:
    """No key store: every request is anonymous."""

    async def authenticate(self, token: str | None) -> KeyIdentity | None:
        return None


def bearer_token(request: HTTPConnection) -> str | None:
    """The key of ``Authorization: Bearer <key>`` (or ``Api-Key <key>``, as Azure-style clients send it)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "api-key") and token.strip() else None
