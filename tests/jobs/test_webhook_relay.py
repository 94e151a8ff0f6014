"""The outbox relay against a flaky loopback receiver (500, 410, hang, redirect), on SQLite and Postgres."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from common.jobs.options import DEFAULT_RETRY_SCHEDULE_S, JobsOptions
from common.webhooks.relay import OutboxRelay
from tests.jobs.receiver import HANG, REDIRECT, Receiver, run_receiver
from voice_store.db import create_db_engine, create_session_factory, session_scope, sqlite_url, upgrade_schema
from voice_store.models.webhooks import WebhookEventStatus
from voice_store.webhooks import (
    create_webhook_endpoint,
    enqueue_webhook_event,
    get_webhook_endpoint,
    list_webhook_events,
)

OPTIONS = JobsOptions(
    webhook_allow_private=True,
    webhook_timeout_s=1.0,
    webhook_retry_schedule_s=(0.2, 0.2, 0.2),
    webhook_retry_jitter=0.1,
)


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "relay.sqlite3")
        upgrade_schema(url)
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    engine = create_db_engine(url)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


def add_event(sessions: sessionmaker[Session], url: str, key: str = "a") -> tuple[str, str, str]:
    """An endpoint for ``url`` and one due event; returns (endpoint id, secret, event id)."""
    with session_scope(sessions, write=True) as session:
        endpoint, secret = create_webhook_endpoint(session=session, url=url)
        event = enqueue_webhook_event(
            session=session,
            endpoint_id=endpoint.id,
            event_type="job.succeeded",
            payload={"type": "job.succeeded", "data": {"id": key}},
            dedupe_key=key,
        )
        return endpoint.id, secret, event.id


def event_state(sessions: sessionmaker[Session], endpoint_id: str) -> list[tuple[WebhookEventStatus, int]]:
    with session_scope(sessions) as session:
        return [(e.status, e.attempts) for e in list_webhook_events(session=session, endpoint_id=endpoint_id)]


def relay_until_settled(relay: OutboxRelay, sessions: sessionmaker[Session], endpoint_id: str) -> None:
    deadline = time.monotonic() + 20
    while any(status is WebhookEventStatus.PENDING for status, _ in event_state(sessions, endpoint_id)):
        assert time.monotonic() < deadline, "the event never settled"
        relay.run_once()
        time.sleep(0.05)


def test_a_500_is_retried_with_the_same_signed_message(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    receiver.script = [500, 503]
    endpoint_id, secret, event_id = add_event(sessions, receiver.url)
    relay = OutboxRelay(sessions, options=OPTIONS)
    first = relay.run_once()
    assert (first.attempted, first.delivered) == (1, 0) and first.next_due_at is not None
    relay_until_settled(relay, sessions, endpoint_id)
    assert event_state(sessions, endpoint_id) == [(WebhookEventStatus.DELIVERED, 3)]
    deliveries = receiver.deliveries
    assert [d.answered for d in deliveries] == [500, 503, 200]
    assert {d.headers["webhook-id"] for d in deliveries} == {event_id}
    for delivery in deliveries:
        assert Webhook(secret).verify(delivery.body, delivery.headers)["data"] == {"id": "a"}


def test_410_disables_the_endpoint_and_stops_its_events(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    receiver.script = [410]
    endpoint_id, _, _ = add_event(sessions, receiver.url)
    relay = OutboxRelay(sessions, options=OPTIONS)
    relay.run_once()
    with session_scope(sessions, write=True) as session:
        assert get_webhook_endpoint(session=session, endpoint_id=endpoint_id).disabled_reason == "410 Gone"
        enqueue_webhook_event(
            session=session, endpoint_id=endpoint_id, event_type="job.failed", payload={}, dedupe_key="b"
        )
    relay.run_once()
    assert event_state(sessions, endpoint_id) == [
        (WebhookEventStatus.FAILED, 1),
        (WebhookEventStatus.FAILED, 0),
    ]
    assert len(receiver.deliveries) == 1


def test_a_hanging_receiver_times_out_and_is_retried(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    receiver.script = [HANG]
    receiver.hang_s = 5.0
    endpoint_id, _, _ = add_event(sessions, receiver.url)
    relay = OutboxRelay(sessions, options=OPTIONS)
    started = time.monotonic()
    relay.run_once()
    assert time.monotonic() - started < OPTIONS.webhook_timeout_s + 1.5
    relay_until_settled(relay, sessions, endpoint_id)
    assert event_state(sessions, endpoint_id) == [(WebhookEventStatus.DELIVERED, 2)]


def test_a_redirect_is_not_followed(sessions: sessionmaker[Session], receiver: Receiver) -> None:
    receiver.script = [REDIRECT]
    endpoint_id, _, _ = add_event(sessions, receiver.url)
    relay = OutboxRelay(sessions, options=OPTIONS)
    relay_until_settled(relay, sessions, endpoint_id)
    assert receiver.redirected == 0
    assert [d.answered for d in receiver.deliveries] == [REDIRECT, 200]
    assert event_state(sessions, endpoint_id) == [(WebhookEventStatus.DELIVERED, 2)]


def test_the_event_fails_when_the_schedule_is_spent(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    receiver.script = [500] * 10
    endpoint_id, _, _ = add_event(sessions, receiver.url)
    relay = OutboxRelay(sessions, options=OPTIONS)
    relay_until_settled(relay, sessions, endpoint_id)
    attempts = len(OPTIONS.webhook_retry_schedule_s) + 1
    assert event_state(sessions, endpoint_id) == [(WebhookEventStatus.FAILED, attempts)]
    assert len(receiver.deliveries) == attempts


def test_the_address_is_checked_again_at_send(sessions: sessionmaker[Session], receiver: Receiver) -> None:
    endpoint_id, _, _ = add_event(sessions, receiver.url)  # accepted while private targets were allowed
    strict = OPTIONS.model_copy(update={"webhook_allow_private": False})
    OutboxRelay(sessions, options=strict).run_once()
    assert receiver.deliveries == []
    with session_scope(sessions) as session:
        (event,) = list_webhook_events(session=session, endpoint_id=endpoint_id)
        assert event.status is WebhookEventStatus.PENDING and "loopback" in (event.last_error or "")


def test_retry_delays_back_off_with_bounded_jitter_over_a_day() -> None:
    relay = OutboxRelay(sessionmaker(), options=JobsOptions(), rng=random.Random(7))
    delays = [relay.retry_delay(n) for n in range(1, len(DEFAULT_RETRY_SCHEDULE_S) + 2)]
    assert delays[-1] is None
    for delay, nominal in zip(delays, DEFAULT_RETRY_SCHEDULE_S, strict=False):
        assert delay is not None and abs(delay.total_seconds() - nominal) <= 0.2 * nominal
    assert sum((d for d in delays if d), timedelta()) > timedelta(hours=24)
    assert len({relay.retry_delay(3) for _ in range(5)}) > 1  # jittered, not a fixed beat
