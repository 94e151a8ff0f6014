"""Webhook endpoints and outbox contract, on SQLite and on Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from voice_store.errors import InvalidInputError, WebhookEndpointNotFound, WebhookEventNotFound
from voice_store.job_transitions import cancel_job, finish_job, start_segment
from voice_store.jobs import SegmentSpec, create_job
from voice_store.models import JobStatus, WebhookEventStatus
from voice_store.models.base import utcnow
from voice_store.webhooks import (
    claim_due_webhook_events,
    create_webhook_endpoint,
    disable_webhook_endpoint,
    enqueue_webhook_event,
    find_webhook_endpoint,
    get_webhook_endpoint,
    list_webhook_events,
    record_webhook_attempt,
)


def _endpoint(session: Session, url: str = "https://hooks.example.com/tts") -> str:
    endpoint, _ = create_webhook_endpoint(session=session, url=url)
    return endpoint.id


def _event(session: Session, endpoint_id: str, dedupe_key: str = "e1") -> str:
    event = enqueue_webhook_event(
        session=session,
        endpoint_id=endpoint_id,
        event_type="job.succeeded",
        payload={"a": 1},
        dedupe_key=dedupe_key,
    )
    return event.id


def test_endpoint_secret_is_a_standard_webhooks_secret(session: Session) -> None:
    import base64

    endpoint, secret = create_webhook_endpoint(session=session, url="https://example.com/hook")
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert get_webhook_endpoint(session=session, endpoint_id=endpoint.id).secret == secret
    assert create_webhook_endpoint(session=session, url="https://example.com/hook")[1] != secret
    assert endpoint.id.startswith("whep_")


@pytest.mark.parametrize("url", ["", "ftp://example.com/x", "example.com/hook", "https://x/" + "a" * 2048])
def test_endpoint_url_must_be_http(session: Session, url: str) -> None:
    with pytest.raises(InvalidInputError):
        create_webhook_endpoint(session=session, url=url)


def test_find_endpoint_reuses_enabled_endpoint_of_the_same_owner(session: Session) -> None:
    url = f"https://example.com/{utcnow().timestamp()}"
    first, _ = create_webhook_endpoint(session=session, url=url)
    assert find_webhook_endpoint(session=session, url=url) is first
    assert find_webhook_endpoint(session=session, url=url + "/other") is None
    disable_webhook_endpoint(session=session, endpoint_id=first.id, reason="410 Gone")
    assert find_webhook_endpoint(session=session, url=url) is None


def test_enqueue_is_idempotent_per_dedupe_key(session: Session) -> None:
    endpoint_id = _endpoint(session)
    first = _event(session, endpoint_id, "job_x:completion")
    assert _event(session, endpoint_id, "job_x:completion") == first
    assert _event(session, endpoint_id, "job_y:completion") != first
    assert len(list_webhook_events(session=session, endpoint_id=endpoint_id)) == 2


def test_claim_leases_due_events(session: Session) -> None:
    now = utcnow()
    endpoint_id = _endpoint(session)
    event_id = _event(session, endpoint_id)
    claimed = claim_due_webhook_events(
        session=session, now=now + timedelta(seconds=1), lease=timedelta(minutes=2)
    )
    assert event_id in [e.id for e in claimed]
    # leased: not due again until the lease runs out
    assert event_id not in [
        e.id for e in claim_due_webhook_events(session=session, now=now + timedelta(minutes=1))
    ]
    assert event_id in [
        e.id for e in claim_due_webhook_events(session=session, now=now + timedelta(minutes=3))
    ]


def test_attempts_deliver_retry_or_fail(session: Session) -> None:
    now = utcnow()
    endpoint_id = _endpoint(session)
    retried = _event(session, endpoint_id, "retry")
    later = now + timedelta(minutes=5)
    event = record_webhook_attempt(
        session=session, event_id=retried, status_code=500, next_attempt_at=later, now=now
    )
    assert (event.status, event.attempts, event.next_attempt_at, event.last_status_code) == (
        WebhookEventStatus.PENDING,
        1,
        later,
        500,
    )
    assert retried not in [
        e.id for e in claim_due_webhook_events(session=session, now=now + timedelta(minutes=1))
    ]
    event = record_webhook_attempt(session=session, event_id=retried, status_code=204, now=later)
    assert (event.status, event.attempts, event.delivered_at) == (WebhookEventStatus.DELIVERED, 2, later)
    # a late duplicate send (lease ran out) does not un-deliver it
    event = record_webhook_attempt(session=session, event_id=retried, error="timeout", now=later)
    assert event.status is WebhookEventStatus.DELIVERED

    given_up = _event(session, endpoint_id, "give-up")
    event = record_webhook_attempt(session=session, event_id=given_up, error="connection refused")
    assert (event.status, event.next_attempt_at, event.last_error) == (
        WebhookEventStatus.FAILED,
        None,
        "connection refused",
    )
    with pytest.raises(WebhookEventNotFound):
        record_webhook_attempt(session=session, event_id="msg_missing", status_code=200)


def test_events_of_a_disabled_endpoint_fail_when_due(session: Session) -> None:
    endpoint_id = _endpoint(session)
    event_id = _event(session, endpoint_id)
    endpoint = disable_webhook_endpoint(session=session, endpoint_id=endpoint_id, reason="410 Gone")
    first_disabled = endpoint.disabled_at
    assert disable_webhook_endpoint(session=session, endpoint_id=endpoint_id, reason="again").disabled_at == (
        first_disabled
    )
    claimed = claim_due_webhook_events(session=session, now=utcnow() + timedelta(seconds=1), limit=100)
    assert event_id not in [e.id for e in claimed]
    [event] = list_webhook_events(session=session, endpoint_id=endpoint_id)
    assert event.status is WebhookEventStatus.FAILED
    with pytest.raises(WebhookEndpointNotFound):
        disable_webhook_endpoint(session=session, endpoint_id="whep_missing", reason="x")


def test_a_job_writes_exactly_one_completion_event(session: Session) -> None:
    endpoint_id = _endpoint(session)
    request = {"input": "x", "metadata": {"order": 42}}
    job, _ = create_job(
        session=session, request=request, segments=[SegmentSpec("x")], webhook_endpoint_id=endpoint_id
    )
    outputs = [{"blob_key": f"jobs/{job.id}/out.mp3", "url": f"/v1/jobs/{job.id}/audio", "format": "mp3"}]
    assert finish_job(session=session, job_id=job.id, status=JobStatus.SUCCEEDED, outputs=outputs)
    assert not finish_job(session=session, job_id=job.id, status=JobStatus.SUCCEEDED, outputs=outputs)
    with pytest.raises(Exception, match="already succeeded"):
        cancel_job(session=session, job_id=job.id)
    [event] = list_webhook_events(session=session, job_id=job.id)
    assert event.event_type == "job.succeeded"
    assert event.payload["type"] == "job.succeeded"
    assert event.payload["timestamp"].endswith("Z")
    data = event.payload["data"]
    public = [{"url": f"/v1/jobs/{job.id}/audio", "format": "mp3"}]  # never the blob store's key
    assert (data["id"], data["status"], data["outputs"], data["metadata"]) == (
        job.id,
        "succeeded",
        public,
        {"order": 42},
    )


def test_failed_and_canceled_jobs_notify_too(session: Session) -> None:
    endpoint_id = _endpoint(session)
    failing, _ = create_job(
        session=session, request={}, segments=[SegmentSpec("x")], webhook_endpoint_id=endpoint_id
    )
    start_segment(session=session, job_id=failing.id, position=0, max_attempts=1)
    start_segment(session=session, job_id=failing.id, position=0, max_attempts=1)  # exhausted: job fails
    canceled, _ = create_job(
        session=session, request={}, segments=[SegmentSpec("x")], webhook_endpoint_id=endpoint_id
    )
    cancel_job(session=session, job_id=canceled.id)
    [failed_event] = list_webhook_events(session=session, job_id=failing.id)
    [canceled_event] = list_webhook_events(session=session, job_id=canceled.id)
    assert failed_event.event_type == "job.failed"
    assert failed_event.payload["data"]["error"]["code"] == "segment_failed"
    assert canceled_event.event_type == "job.canceled"


def test_no_event_for_a_disabled_endpoint(session: Session) -> None:
    endpoint_id = _endpoint(session)
    job, _ = create_job(
        session=session, request={}, segments=[SegmentSpec("x")], webhook_endpoint_id=endpoint_id
    )
    disable_webhook_endpoint(session=session, endpoint_id=endpoint_id, reason="410 Gone")
    finish_job(session=session, job_id=job.id, status=JobStatus.SUCCEEDED)
    assert list_webhook_events(session=session, job_id=job.id) == []
