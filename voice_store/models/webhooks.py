"""Webhook endpoints and the outbox of webhook events (Standard Webhooks).

An event row is written in the same transaction as the state change it reports (the outbox pattern); a
delivery task claims due rows, sends them and records each attempt. ``(endpoint_id, dedupe_key)`` is unique,
so a state change reported twice (e.g. a finalize step re-run after a crash) still yields one event. The event
id is the ``webhook-id`` header and stays the same across retries. Endpoint secrets (``whsec_...``) must be
readable to sign, so they are stored as issued.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voice_store.models.base import ID_LENGTH, Base, UTCDateTime, string_enum, utcnow


class WebhookEventStatus(str, enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    api_key_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(255))

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "dedupe_key"),
        Index("ix_webhook_events_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    job_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[WebhookEventStatus] = mapped_column(
        string_enum(WebhookEventStatus, "webhook_event_status"),
        default=WebhookEventStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
