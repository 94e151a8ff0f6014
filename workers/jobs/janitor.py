"""The distributed mode's safety net, run by the API process: the database, not the broker, decides what is
left to do.

Every ``interval_s`` the janitor (1) re-enqueues segments that have been ``running`` for longer than a task
can live (the hard time limit plus a grace): their worker died with the message, or the hard limit killed
the task and Celery acknowledged it, so no redelivery would ever come; (2) enqueues the finalize again of
running jobs whose segments are all done but whose row has not changed for as long: the finalize message
was lost or its worker died mid-finalize; (3) sends a relay task when webhook events are due (retries hours
away are not left to broker countdowns). A re-enqueued segment or finalize counts an attempt when it starts,
so one that keeps killing workers fails its job (``max_segment_attempts``, ``max_finalize_attempts``); one
that finished meanwhile is a no-op. It wraps the ``CeleryJobQueue`` and is itself the service's
``JobQueue``; several API replicas running it at once only send harmless duplicates (a duplicate finalize
uses up an attempt, so the finalize retry delays stay far below the stale window).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from voice_store.db import session_scope
from voice_store.job_transitions import note_finalize_requeued
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


def stranded_finalizes(session: Session, *, updated_before: datetime) -> list[tuple[str, str]]:
    """(job id, model) of running jobs with every segment done and no change since ``updated_before``."""
    statement = (
        select(Job.id, Job.request)
        .where(
            Job.status == JobStatus.RUNNING,
            Job.segments_done >= Job.segments_total,
            Job.updated_at < updated_before,
        )
        .order_by(Job.id)
    )
    return [(job_id, request["synthesis"]["model"]) for job_id, request in session.execute(statement)]


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
            stranded = stranded_finalizes(session, updated_before=now - self._stale_after)
            due = webhooks_due(session, now=now)
        for job_id, model, position in stale:
            log.warning("job %s segment %d outlived any task: enqueued again", job_id, position)
            self._queue.segment(job_id, model=model, position=position)
        for job_id, model in stranded:
            with session_scope(self._sessions, write=True) as session:
                if not note_finalize_requeued(session=session, job_id=job_id, now=now):
                    continue
            log.warning("job %s: every segment done, no finalize alive: finalize enqueued again", job_id)
            self._queue.finalize(job_id, model=model)
        if due:
            self._queue.deliver_webhooks()
        return len(stale) + len(stranded)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except Exception as e:  # the database or the broker is down: the next pass tries again
                log.error("job janitor pass failed: %s", e, exc_info=e)
