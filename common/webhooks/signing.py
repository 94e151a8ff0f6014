"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``.

The key is the base64 part of the endpoint's ``whsec_...`` secret. Verify on the receiving side with any
Standard Webhooks library (e.g. ``standardwebhooks.Webhook(secret).verify(body, headers)``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body),
        "content-type": "application/json",
    }
