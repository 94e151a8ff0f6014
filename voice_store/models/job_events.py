"""The event log of each job: what ``GET /v1/jobs/{id}/events`` streams, and replays after a reconnect.

A row is written by the job transitions (``voice_store.job_transitions``) in the same transaction as the
state change it describes, under the job's row lock. So the log is never ahead of or behind the job row, and
the events of one job are inserted one transaction after another: their autoincrement ``id`` grows in commit
order, which makes it a valid SSE event id (``Last-Event-ID``) across reconnects and processes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voice_store.models.base import ID_LENGTH, Base, UTCDateTime, utcnow

# SQLite only autoincrements an ``INTEGER PRIMARY KEY``; Postgres gets a BIGINT identity.
EVENT_ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(EVENT_ID_TYPE, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))  # job.progress, job.chapter.completed, job.<terminal>
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"JobEvent(id={self.id!r}, job_id={self.job_id!r}, type={self.type!r})"
