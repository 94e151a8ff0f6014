"""The distributed mode's safety net, run by the API process: the database, not the broker, decides what is
left to do.

Every ``interval_s`` the janitor (1) releases running segments whose claim's lease expired and sends each
once: the holder renews its short lease while it works (``workers.jobs.claim_renewal``), so an expired one
stopped renewing (its process died, the hard time limit killed it, its host was lost or cut off); releasing
makes it pending again, so later sweeps do not send it again while a new claim runs, and a holder that was
only cut off and finishes late is fenced by the token (discarded once a new claim holds it). Unleased ones are
released once they started longer than ``stale_after`` ago. (2) It sends pending segments of open jobs
(queued or running) whose message went out longer than ``stale_after`` ago: it may be lost (a broker
restarted without persistence), and a duplicate of one that was only slow finds it claimed or done and does
nothing; (3) looks at running jobs whose row has not changed for as long with every segment done: their
finalize is sent again (its message was lost, or its worker died mid-finalize: a finalize holds no renewed
lease, so ``stale_after`` must be as long as a task may live, ``wiring.task_lifetime_s``); (4) sends a relay
task when webhook events are due (retries hours away are not left to broker countdowns). A claim counts an
attempt, so a segment that keeps killing workers fails its job (``max_segment_attempts``); a delivery that
finds a live claim counts nothing. It wraps the ``CeleryJobQueue`` and is itself the service's ``JobQueue``;
several API replicas running it at once send each segment once per window (the releases and stamps are
conditional updates); a duplicate finalize uses up an attempt, so the finalize retry delays stay far below
the window.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from voice_store.db import session_scope
from voice_store.job_transitions import (
    SegmentRef,
    expired_claims,
    note_enqueued,
    note_requeued,
    release_expired,
    stranded_pending,
)
from voice_store.models.base import utcnow
from voice_store.models.jobs import Job, JobStatus
from voice_store.models.webhooks import WebhookEvent, WebhookEventStatus
from workers.jobs.celery_queue import CeleryJobQueue

log = logging.getLogger(__name__)


def jobs_awaiting_finalize(session: Session, *, updated_before: datetime) -> list[tuple[str, str]]:
    """(job id, model) of running jobs with every segment done whose row has not changed since the bound:
    their finalize message was lost, or its worker died mid-finalize."""
    rows = session.execute(
        select(Job.id, Job.request)
        .where(
            Job.status == JobStatus.RUNNING,
            Job.updated_at < updated_before,
            Job.segments_done >= Job.segments_total,
        )
        .order_by(Job.id)
    ).all()
    return [(job_id, request["synthesis"]["model"]) for job_id, request in rows]


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
        """One pass; returns how many segments and finalizes were enqueued again."""
        now = now or utcnow()
        bound = now - self._stale_after
        with session_scope(self._sessions) as session:
            expired = expired_claims(session, now=now, unleased_before=bound)
            pending = stranded_pending(session, enqueued_before=bound)
            finalizes = jobs_awaiting_finalize(session, updated_before=bound)
            due = webhooks_due(session, now=now)

        def release(session: Session, ref: SegmentRef) -> bool:
            return release_expired(session, ref, now=now, unleased_before=bound)

        def stamp(session: Session, ref: SegmentRef) -> bool:
            return note_enqueued(session, ref, now=now, enqueued_before=bound)

        sent = 0
        for refs, claim, why in ((expired, release, "its claim expired"), (pending, stamp, "no message")):
            for ref in refs:
                with session_scope(self._sessions, write=True) as session:
                    if not claim(session, ref):  # changed meanwhile, or another janitor sent it
                        continue
                log.warning("job %s segment %d: %s: enqueued again", ref.job_id, ref.position, why)
                self._queue.segment(ref.job_id, model=ref.model, position=ref.position)
                sent += 1
        for job_id, model in finalizes:
            with session_scope(self._sessions, write=True) as session:
                if not note_requeued(session=session, job_id=job_id, now=now):
                    continue
            log.warning("job %s: every segment done, no finalize alive: finalize enqueued again", job_id)
            self._queue.finalize(job_id, model=model)
            sent += 1
        if due:
            self._queue.deliver_webhooks()
        return sent

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except Exception as e:  # the database or the broker is down: the next pass tries again
                log.error("job janitor pass failed: %s", e, exc_info=e)
