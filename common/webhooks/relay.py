"""The outbox relay: claim due webhook events, sign and send them, record each attempt.

Retries follow ``jobs.webhook_retry_schedule_s`` (by default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about
27 hours in all), each delay spread by ± ``webhook_retry_jitter`` so that a receiver coming back up is not hit
by every sender at once. A 2xx delivers; 410 Gone disables the endpoint (its pending events fail); anything
else — another status, a redirect (never followed), a timeout, a refused address — is retried until the
schedule runs out. The SSRF guard runs again at every send, and the connection goes to the address it checked.

Claiming leases each event (``voice_store.webhooks.claim_due_webhook_events``), so relays in several processes
(Celery workers, the embedded queue thread) never send one event concurrently; a relay that dies mid-send
only delays the event by the lease.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from common.jobs.options import JobsOptions
from common.webhooks.sender import SendResult, post
from common.webhooks.signing import signed_headers
from common.webhooks.ssrf import Resolver, UnsafeUrl, check_url, system_resolver
from voice_store.db import session_scope
from voice_store.models.base import utcnow
from voice_store.models.webhooks import WebhookEndpoint, WebhookEvent, WebhookEventStatus
from voice_store.webhooks import claim_due_webhook_events, disable_webhook_endpoint, record_webhook_attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Claimed:
    event_id: str
    endpoint_id: str
    url: str
    secret: str
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class RelayPass:
    attempted: int
    delivered: int
    next_due_at: datetime | None  # the earliest pending event after this pass (None: nothing pending)


class OutboxRelay:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        options: JobsOptions,
        resolver: Resolver = system_resolver,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._options = options
        self._resolver = resolver
        self._rng = rng or random.Random()

    def run_once(self, *, limit: int = 20) -> RelayPass:
        """Send every due event (up to ``limit``) once; what is left comes due later."""
        lease = timedelta(seconds=self._options.webhook_timeout_s * 3 + 30)
        with session_scope(self._sessions, write=True) as session:
            claimed = [
                self._snapshot(session, e)
                for e in claim_due_webhook_events(session=session, limit=limit, lease=lease)
            ]
        delivered = sum(self._deliver(item) for item in claimed)
        return RelayPass(attempted=len(claimed), delivered=delivered, next_due_at=self.next_due_at())

    def next_due_at(self) -> datetime | None:
        with session_scope(self._sessions) as session:
            statement = select(func.min(WebhookEvent.next_attempt_at)).where(
                WebhookEvent.status == WebhookEventStatus.PENDING
            )
            return session.scalar(statement)

    def retry_delay(self, attempts: int) -> timedelta | None:
        """The wait after the ``attempts``-th failed attempt, jittered; None when the schedule is spent."""
        schedule = self._options.webhook_retry_schedule_s
        if attempts > len(schedule):
            return None
        spread = self._options.webhook_retry_jitter
        return timedelta(seconds=schedule[attempts - 1] * (1 + self._rng.uniform(-spread, spread)))

    # -- internals -----------------------------------------------------------------------------------------
    @staticmethod
    def _snapshot(session: Session, event: WebhookEvent) -> _Claimed:
        endpoint = session.get(WebhookEndpoint, event.endpoint_id)
        assert endpoint is not None  # claiming fails events whose endpoint is gone
        body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
        return _Claimed(event.id, endpoint.id, endpoint.url, endpoint.secret, body, event.attempts)

    def _deliver(self, item: _Claimed) -> bool:
        now = utcnow()
        try:
            target = check_url(
                item.url, allow_private=self._options.webhook_allow_private, resolver=self._resolver
            )
        except UnsafeUrl as e:
            result = SendResult(None, e.message)
        else:
            headers = signed_headers(
                item.secret, message_id=item.event_id, timestamp=int(now.timestamp()), body=item.body
            )
            result = post(target, item.body, headers, timeout_s=self._options.webhook_timeout_s)
        ok = result.status_code is not None and 200 <= result.status_code < 300
        gone = result.status_code == 410
        delay = None if ok or gone else self.retry_delay(item.attempts + 1)
        with session_scope(self._sessions, write=True) as session:
            if gone:
                disable_webhook_endpoint(session=session, endpoint_id=item.endpoint_id, reason="410 Gone")
            record_webhook_attempt(
                session=session,
                event_id=item.event_id,
                status_code=result.status_code,
                error=result.error,
                next_attempt_at=None if delay is None else now + delay,
                now=now,
            )
        level = logging.INFO if ok else logging.WARNING
        log.log(level, "webhook %s → %s: %s", item.event_id, result.status_code, result.error or "sent")
        return ok
