"""The distributed mode's safety net, run by the API process: the database, not the broker, decides what is
left to do.

Every ``interval_s`` the janitor (1) re-enqueues segments that have been ``running`` for longer than a task
can live (the hard time limit plus a grace): their worker died with the message, or the hard limit killed
the task and Celery acknowledged it, so no redelivery would ever come; (2) looks at running jobs whose row
has not changed for as long: with every segment done, their finalize is sent again (its message was lost,
or its worker died mid-finalize); otherwise their pending segments are (a retry that could not be sent), once
per such window (``note_requeued``); (3) sends a relay task when webhook events are due (retries hours
away are not left to broker countdowns). A re-enqueued segment or finalize counts an attempt when it starts,
so one that keeps killing workers fails its job (``max_segment_attempts``, ``max_finalize_attempts``); one
that finished meanwhile is a no-op. It wraps the ``CeleryJobQueue`` and is itself the service's
``JobQueue``; several API replicas running it at once only send harmless duplicates (a duplicate finalize
uses up an attempt, so the finalize retry delays stay far below the stale window).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from voice_store.db import session_scope
from voice_store.job_transitions import note_requeued
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobSegment, JobStatus, SegmentStatus
from voice_store.models.webhooks import WebhookEvent, WebhookEventStatus
from workers.jobs.celery_queue import CeleryJobQueue

log = logging.getLogger(__name__)


def stale_segments(session: Session, *, started_before: datetime) -> list[tuple[str, str, int]]:
    """(job id, model, position) of running segments of running jobs started before ``started_before``."""
    statement = (
        select(Job.id, Job.request, JobSegment.position)
        .join(JobSegment, JobSegment.job_id == Job.id)
        .where(
            Job.status == JobStatus.RUNNING,
            JobSegment.status == SegmentStatus.RUNNING,
            JobSegment.started_at < started_before,
        )
        .order_by(Job.id, JobSegment.position)
    )
    return [
        (job_id, request["synthesis"]["model"], position)
        for job_id, request, position in session.execute(statement)
    ]


@dataclass(frozen=True, slots=True)
class IdleJob:
    """A running job whose row has not changed for longer than a task can live: a message was lost (a retry
    that could not be sent) or a finalize's worker died. Its pending segments go again, or, with every
    segment done, its finalize."""

    job_id: str
    model: str
    pending: list[int]  # empty: every segment is done, the finalize is what is missing
    is_ready: bool


def idle_jobs(session: Session, *, updated_before: datetime) -> list[IdleJob]:
    jobs = session.execute(
        select(Job.id, Job.request, Job.segments_done, Job.segments_total)
        .where(Job.status == JobStatus.RUNNING, Job.updated_at < updated_before)
        .order_by(Job.id)
    ).all()
    idle = []
    for job_id, request, done, total in jobs:
        pending = session.scalars(
            select(JobSegment.position)
            .where(JobSegment.job_id == job_id, JobSegment.status == SegmentStatus.PENDING)
            .order_by(JobSegment.position)
        ).all()
        if pending or done >= total:
            idle.append(IdleJob(job_id, request["synthesis"]["model"], list(pending), done >= total))
    return idle


def webhooks_due(session: Session, *, now: datetime) -> bool:
    due = select(WebhookEvent.id).where(
        WebhookEvent.status == WebhookEventStatus.PENDING, WebhookEvent.next_attempt_at <= now
    )
    return bool(session.scalar(select(exists(due))))


class JobJanitor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        queue: CeleryJobQueue,
        *,
        stale_after: timedelta,
        interval_s: float,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._stale_after = stale_after
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-janitor", daemon=True)

    # -- JobQueue ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def submit(self, job_id: str, *, model: str, positions: list[int]) -> None:
        self._queue.submit(job_id, model=model, positions=positions)

    def deliver_webhooks(self) -> None:
        self._queue.deliver_webhooks()

    # -- the sweep -----------------------------------------------------------------------------------------
    def sweep(self, now: datetime | None = None) -> int:
        """One pass; returns how many segments and finalizes were re-enqueued."""
        now = now or utcnow()
        with session_scope(self._sessions) as session:
            stale = stale_segments(session, started_before=now - self._stale_after)
            idle = idle_jobs(session, updated_before=now - self._stale_after)
            due = webhooks_due(session, now=now)
        for job_id, model, position in stale:
            log.warning("job %s segment %d outlived any task: enqueued again", job_id, position)
            self._queue.segment(job_id, model=model, position=position)
        sent = len(stale)
        for job in idle:
            with session_scope(self._sessions, write=True) as session:
                if not note_requeued(session=session, job_id=job.job_id, now=now):
                    continue
            if job.is_ready:
                log.warning(
                    "job %s: every segment done, no finalize alive: finalize enqueued again", job.job_id
                )
                self._queue.finalize(job.job_id, model=job.model)
            for position in job.pending:
                log.warning("job %s segment %d pending with no message: enqueued again", job.job_id, position)
                self._queue.segment(job.job_id, model=job.model, position=position)
            sent += len(job.pending) + int(job.is_ready)
        if due:
            self._queue.deliver_webhooks()
        return sent

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except Exception as e:  # the database or the broker is down: the next pass tries again
                log.error("job janitor pass failed: %s", e, exc_info=e)
