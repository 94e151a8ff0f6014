"""The embedded mode's ``JobQueue``: one background thread runs jobs, finalizes them and relays webhooks.

The queue is persisted by the database itself: a job is submitted only after its row and segments are
committed, and the thread reads each job's pending segments from the database. At ``start`` every queued or
running job is resumed, so a restart (or a crash) loses no work: done segments are skipped, a segment or a
finalize that was running counts one attempt more (both are bounded: such a job fails rather than loops). A
finalize that failed transiently is put back on the queue after its backoff. Jobs run one at a time,
segment by segment, on the same ``EngineHost`` thread as live speech (which interleaves them fairly).
Between jobs, and every ``poll_s`` when idle, the thread gives the webhook outbox one relay pass.
"""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from common.errors import ServiceError
from common.webhooks.relay import OutboxRelay
from voice_store.db import session_scope
from voice_store.errors import StoreError
from voice_store.jobs import list_segments, list_unfinished_job_ids
from workers.jobs.failures import FinalizeOutcome, FinalizeRunner
from workers.jobs.segment_retry import SegmentRetry
from workers.jobs.segments import SegmentOutcome, SegmentRunner

log = logging.getLogger(__name__)

_STOP = object()
DEFAULT_SEGMENT_RETRY = SegmentRetry()


class EmbeddedJobQueue:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        runner: SegmentRunner,
        finalizer: FinalizeRunner,
        relay: OutboxRelay,
        poll_s: float = 1.0,
        segment_retry: SegmentRetry = DEFAULT_SEGMENT_RETRY,
    ) -> None:
        self._sessions = sessions
        self._runner = runner
        self._finalizer = finalizer
        self._relay = relay
        self._poll_s = poll_s
        self._segment_retry = segment_retry
        self._closing = threading.Event()  # ends a failed segment's backoff wait
        self._queue: queue.Queue[object] = queue.Queue()  # job ids, None (relay now), _STOP
        self._thread = threading.Thread(target=self._loop, name="job-queue", daemon=True)
        self._retries: set[threading.Timer] = set()  # finalizes waiting out their backoff
        self._retries_lock = threading.Lock()

    def start(self) -> None:
        """Resume unfinished jobs (oldest first), then start the thread; calling it twice is a no-op."""
        if self._thread.ident is not None:
            return
        with session_scope(self._sessions) as session:
            resumed = list_unfinished_job_ids(session=session)
        for job_id in resumed:
            self._queue.put(job_id)
        if resumed:
            log.info("resuming %d unfinished jobs", len(resumed))
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Stop after the segment in progress (its job resumes at the next start)."""
        self._queue.put(_STOP)
        self._closing.set()
        with self._retries_lock:
            for timer in self._retries:
                timer.cancel()  # the job resumes at the next start
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, job_id: str, *, model: str, positions: list[int]) -> None:
        self._queue.put(job_id)

    def deliver_webhooks(self) -> None:
        self._queue.put(None)  # wakes the thread for a relay pass

    def _loop(self) -> None:
        while True:
            try:
                item: object = self._queue.get(timeout=self._poll_s)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if isinstance(item, str):
                    self._run_job(item)
                self._relay.run_once()
            except (
                StoreError,
                ServiceError,
                OSError,
                SQLAlchemyError,
            ) as e:  # the next job or poll still runs
                log.error("job queue: %s", e, exc_info=e)

    def _run_job(self, job_id: str) -> None:
        with session_scope(self._sessions) as session:
            pending = [s.position for s in list_segments(session=session, job_id=job_id) if not s.is_done]
        outcome = SegmentOutcome.READY if not pending else SegmentOutcome.DONE
        for position in pending:
            while (outcome := self._runner.run(job_id, position)) is SegmentOutcome.RETRY:
                if self._closing.wait(self._segment_retry.after(self._sessions, job_id, position)):
                    return  # closing: the job resumes at the next start
            if outcome in (SegmentOutcome.FAILED, SegmentOutcome.SKIPPED):
                break
        if outcome is SegmentOutcome.READY:
            result = self._finalizer.run(job_id)
            if result.outcome is FinalizeOutcome.RETRY:
                self._retry_later(job_id, result.retry_in_s)

    def _retry_later(self, job_id: str, delay_s: float) -> None:
        def resubmit() -> None:
            with self._retries_lock:
                self._retries.discard(timer)
            self._queue.put(job_id)

        timer = threading.Timer(delay_s, resubmit)
        timer.daemon = True
        with self._retries_lock:
            self._retries.add(timer)
        timer.start()
