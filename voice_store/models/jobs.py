"""Async synthesis jobs (issue 7) and their segments.

A job row is committed before any task is enqueued; long input is split into segments, each synthesized by one
task. Progress counters live on the job row and are updated under the job's row lock, so exactly one
completion observes ``segments_done == segments_total``. A segment's ``attempts`` counter lets a poison
segment fail the job instead of looping forever.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from voice_store.models.base import BLOB_KEY_LENGTH, ID_LENGTH, Base, UTCDateTime, string_enum, utcnow


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class JobErrorStep(str, enum.Enum):
    """Where a failed job failed: ``error.step`` next to ``error.code`` in the API and the webhook."""

    ENQUEUE = "enqueue"  # sending the job's tasks to the queue
    SEGMENT = "segment"  # synthesizing a segment or storing its audio (or its worker died)
    READ = "read"  # finalize: reading the segments' audio back from the blob store
    ENCODE = "encode"  # finalize: stitching, encoding and muxing an output file
    UPLOAD = "upload"  # finalize: storing an output file in the blob store
    FINALIZE = "finalize"  # finalize as a whole: its worker vanished in every attempt


class SegmentStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # NULL idempotency keys never collide; the scope is the API key id, or "" without auth.
        UniqueConstraint("idempotency_scope", "idempotency_key"),
        Index("ix_jobs_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    status: Mapped[JobStatus] = mapped_column(string_enum(JobStatus, "job_status"), default=JobStatus.QUEUED)
    api_key_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    idempotency_scope: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # sha256 of the canonical JSON request: a replayed Idempotency-Key must carry the same request.
    request_hash: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_endpoint_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("webhook_endpoints.id", ondelete="SET NULL"), index=True
    )

    segments_total: Mapped[int] = mapped_column(default=0)
    segments_done: Mapped[int] = mapped_column(default=0)
    audio_seconds: Mapped[float] = mapped_column(default=0.0)
    # [{"chapter": int | None, "title": str | None, "blob_key": str, "format": str, "duration_s": float}, ...]
    outputs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_step: Mapped[str | None] = mapped_column(String(32))  # a ``JobErrorStep`` value
    # counted when a finalize starts: a finalize that keeps failing (or losing its worker) fails the job
    finalize_attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    segments: Mapped[list[JobSegment]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="JobSegment.position",
    )

    def is_visible_to(self, api_key_id: str | None) -> bool:
        """The owner rule: no key (an open server) sees every job; a key sees its own jobs and those created
        while the server had no keys (they have no owner, and stay reachable once keys exist)."""
        return api_key_id is None or self.api_key_id in (None, api_key_id)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status.value!r})"


class JobSegment(Base):
    __tablename__ = "job_segments"

    job_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    chapter: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[SegmentStatus] = mapped_column(
        string_enum(SegmentStatus, "segment_status"), default=SegmentStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    audio_blob_key: Mapped[str | None] = mapped_column(String(BLOB_KEY_LENGTH))
    audio_seconds: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the claim (issue 19): who runs it now, the fencing token only its holder may write with, until when;
    # enqueued_at: when its message was last sent (a pending segment older than a bound may have lost it)
    claim_owner: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[int] = mapped_column(default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="segments")

    @property
    def is_done(self) -> bool:
        return self.status is SegmentStatus.DONE
