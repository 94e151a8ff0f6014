"""Outgoing webhooks per the Standard Webhooks spec (https://www.standardwebhooks.com).

- ``signing``  ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` (v1, HMAC-SHA256) headers.
- ``ssrf``     resolve a callback URL's host and refuse internal addresses; the checked address is the one
               connected to (no second resolution an attacker could rebind).
- ``sender``   one HTTP POST to a checked address: no redirects followed, a hard timeout.
- ``relay``    the outbox relay: claim due events, send, record; retries with backoff + jitter; 410 disables.
"""
