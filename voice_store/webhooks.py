"""Webhook endpoints and the event outbox (Standard Webhooks).

API (keyword-only; functions flush but never commit)::

    endpoint, secret = create_webhook_endpoint(session=s, url="https://example.com/hook", api_key_id=None)
    endpoint = find_webhook_endpoint(session=s, url=..., api_key_id=None)  # reuse per (key, url), or None
    disable_webhook_endpoint(session=s, endpoint_id=..., reason="410 Gone")
    event = enqueue_webhook_event(session=s, endpoint_id=..., event_type="job.succeeded", payload={...},
                                  dedupe_key="job_x:job.succeeded", job_id="job_x")   # idempotent
    events = claim_due_webhook_events(session=s, limit=10, lease=timedelta(minutes=2))  # then commit, send
    record_webhook_attempt(session=s, event_id=..., status_code=200)                  # delivered
    record_webhook_attempt(session=s, event_id=..., status_code=500, next_attempt_at=later)  # retry later
    record_webhook_attempt(session=s, event_id=..., error="timeout")                  # no retry: failed

The retry schedule (backoff, jitter, how many attempts) belongs to the delivery task: it passes
``next_attempt_at``, or None to give up. ``claim_due_webhook_events`` pushes each claimed event's
``next_attempt_at`` forward by ``lease`` so a second dispatcher does not send it concurrently (Postgres also
skips rows locked by another claimer), and a dispatcher that dies mid-send only delays the event by the lease.
Events of a disabled endpoint are failed when they come due. URL safety (SSRF) is checked by the caller, not
here: this module does not resolve hosts.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError, WebhookEndpointNotFound, WebhookEventNotFound
from voice_store.models.base import new_id, utcnow
from voice_store.models.webhooks import WebhookEndpoint, WebhookEvent, WebhookEventStatus

_SECRET_BYTES = 32
MAX_URL_LENGTH = 2048


def create_webhook_endpoint(
    *, session: Session, url: str, api_key_id: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (``whsec_<base64>``), to be shown to the client once."""
    if not url or len(url) > MAX_URL_LENGTH or not url.startswith(("https://", "http://")):
        raise InvalidInputError(f"webhook URL must be an http(s) URL of at most {MAX_URL_LENGTH} characters")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()
    endpoint = WebhookEndpoint(id=new_id("whep"), url=url, secret=secret, api_key_id=api_key_id)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def find_webhook_endpoint(
    *, session: Session, url: str, api_key_id: str | None = None
) -> WebhookEndpoint | None:
    """The oldest enabled endpoint of this owner for ``url`` (so repeated callbacks share one secret)."""
    owner = (
        WebhookEndpoint.api_key_id.is_(None)
        if api_key_id is None
        else WebhookEndpoint.api_key_id == api_key_id
    )
    statement = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.url == url, owner, WebhookEndpoint.disabled_at.is_(None))
        .order_by(WebhookEndpoint.id)
    )
    return session.scalars(statement).first()


def get_webhook_endpoint(*, session: Session, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound(endpoint_id)
    return endpoint


def disable_webhook_endpoint(
    *, session: Session, endpoint_id: str, reason: str, now: datetime | None = None
) -> WebhookEndpoint:
    """Stop delivering to an endpoint (e.g. it answered 410 Gone); disabling twice keeps the first reason."""
    endpoint = get_webhook_endpoint(session=session, endpoint_id=endpoint_id)
    if endpoint.disabled_at is None:
        endpoint.disabled_at = now or utcnow()
        endpoint.disabled_reason = reason[:255]
        session.flush()
    return endpoint


def enqueue_webhook_event(
    *,
    session: Session,
    endpoint_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    job_id: str | None = None,
    now: datetime | None = None,
) -> WebhookEvent:
    """Write an event to the outbox, due now; an existing ``(endpoint_id, dedupe_key)`` is returned as is."""
    existing = _event_by_dedupe_key(session, endpoint_id, dedupe_key)
    if existing is not None:
        return existing
    now = now or utcnow()
    event = WebhookEvent(
        id=new_id("msg"),
        endpoint_id=endpoint_id,
        job_id=job_id,
        event_type=event_type,
        dedupe_key=dedupe_key,
        payload=dict(payload),
        status=WebhookEventStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.flush()
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:  # a concurrent writer won the race: theirs is the event
        existing = _event_by_dedupe_key(session, endpoint_id, dedupe_key)
        if existing is None:
            raise
        return existing
    return event


def claim_due_webhook_events(
    *,
    session: Session,
    now: datetime | None = None,
    limit: int = 10,
    lease: timedelta = timedelta(minutes=2),
) -> list[WebhookEvent]:
    """Pending events that are due, leased to the caller until ``now + lease``. Commit, then send them."""
    now = now or utcnow()
    statement = (
        select(WebhookEvent)
        .where(WebhookEvent.status == WebhookEventStatus.PENDING, WebhookEvent.next_attempt_at <= now)
        .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    claimed: list[WebhookEvent] = []
    for event in session.scalars(statement):
        endpoint = session.get(WebhookEndpoint, event.endpoint_id)
        if endpoint is None or endpoint.disabled_at is not None:
            event.status = WebhookEventStatus.FAILED
            event.next_attempt_at = None
            event.last_error = "endpoint disabled"
            continue
        event.next_attempt_at = now + lease
        claimed.append(event)
    session.flush()
    return claimed


def record_webhook_attempt(
    *,
    session: Session,
    event_id: str,
    status_code: int | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    now: datetime | None = None,
) -> WebhookEvent:
    """Record one delivery attempt: 2xx delivers; else retry at ``next_attempt_at``, or fail (None)."""
    event = session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if event is None:
        raise WebhookEventNotFound(event_id)
    now = now or utcnow()
    event.attempts += 1
    event.last_attempt_at = now
    event.last_status_code = status_code
    event.last_error = error
    if event.status is WebhookEventStatus.DELIVERED:
        pass  # a duplicate send after a lease ran out: it stays delivered
    elif status_code is not None and 200 <= status_code < 300:
        event.status = WebhookEventStatus.DELIVERED
        event.delivered_at = now
        event.next_attempt_at = None
    elif next_attempt_at is not None:
        event.status = WebhookEventStatus.PENDING
        event.next_attempt_at = next_attempt_at
    else:
        event.status = WebhookEventStatus.FAILED
        event.next_attempt_at = None
    session.flush()
    return event


def list_webhook_events(
    *, session: Session, job_id: str | None = None, endpoint_id: str | None = None
) -> list[WebhookEvent]:
    statement = select(WebhookEvent).order_by(WebhookEvent.id)
    if job_id is not None:
        statement = statement.where(WebhookEvent.job_id == job_id)
    if endpoint_id is not None:
        statement = statement.where(WebhookEvent.endpoint_id == endpoint_id)
    return list(session.scalars(statement))


def _event_by_dedupe_key(session: Session, endpoint_id: str, dedupe_key: str) -> WebhookEvent | None:
    statement = select(WebhookEvent).where(
        WebhookEvent.endpoint_id == endpoint_id, WebhookEvent.dedupe_key == dedupe_key
    )
    return session.scalars(statement).one_or_none()
