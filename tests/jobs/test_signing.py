"""Our Standard Webhooks signatures verify with the reference ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from common.webhooks.signing import signed_headers

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_signed_headers_verify_with_the_reference_library() -> None:
    body = json.dumps({"type": "job.succeeded", "data": {"id": "job_1"}}).encode()
    headers = signed_headers(SECRET, message_id="msg_1", timestamp=int(time.time()), body=body)
    assert Webhook(SECRET).verify(body, headers) == {"type": "job.succeeded", "data": {"id": "job_1"}}


def test_a_changed_body_or_another_secret_fails_verification() -> None:
    body = b'{"a":1}'
    headers = signed_headers(SECRET, message_id="msg_1", timestamp=int(time.time()), body=body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
