"""Every finalize ends its job: bounded attempts, and each failure recorded on the job with the step it hit.

``FinalizeRunner`` runs the ``Finalizer`` for a job whose segments are all done. ``start_finalize`` counts the
attempt first (a worker killed mid-finalize used it up), then the finalizer stitches, encodes and uploads.
A failure is classified by its step: ``read`` (a segment's audio from the blob store), ``encode`` (stitch,
encode, mux) or ``upload`` (an output into the blob store). Blob store and disk errors at ``read``/``upload``
are transient: the job stays ``running`` and the caller runs the finalize again after ``retry_in_s``
(doubling), until ``max_attempts``; anything else (the encoder raised) fails the job at once with
``finalize_failed``. The job's one ``job.failed`` event goes to the outbox in the same transaction.

Which step failed is known from the blob store the finalizer is given (``StepBlobs`` tags its reads and
writes); an error that carries no tag came from the encoding. Database errors are not recorded (the database
is what records them): they propagate, and the attempt they used counts when the finalize is run again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from voice_store.blobs.port import DEFAULT_CHUNK_SIZE, DEFAULT_CONTENT_TYPE, BlobStore
from voice_store.db import session_scope
from voice_store.errors import BlobStoreError, JobNotFound
from voice_store.job_transitions import FinalizeStartOutcome, fail_finalize, start_finalize
from voice_store.models.jobs import JobErrorStep
from workers.jobs.finalize import Finalizer

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (BlobStoreError, OSError)
"""At ``read``/``upload``: the blob store (or the disk under it) may answer again. A missing blob will not."""


class StepFailed(Exception):
    """A finalize step failed: ``step`` says which, ``retryable`` whether another attempt may succeed."""

    def __init__(self, step: JobErrorStep, error: BaseException, *, retryable: bool) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.step = step
        self.retryable = retryable


class FinalizeOutcome(enum.Enum):
    FINISHED = "finished"  # the job succeeded now
    SKIPPED = "skipped"  # not ready, or already finished: nothing done
    RETRY = "retry"  # a transient failure: run the finalize again after ``retry_in_s``
    FAILED = "failed"  # the job has failed now (its ``job.failed`` event is in the outbox)


@dataclass(frozen=True, slots=True)
class FinalizeResult:
    outcome: FinalizeOutcome
    retry_in_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FinalizeRetry:
    max_attempts: int = 3
    first_delay_s: float = 5.0

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based): the first delay, doubling."""
        return self.first_delay_s * 2 ** max(attempt - 1, 0)


class FinalizeRunner:
    def __init__(
        self, *, sessions: sessionmaker[Session], finalizer: Finalizer, retry: FinalizeRetry
    ) -> None:
        self._sessions = sessions
        self._finalizer = finalizer
        self._retry = retry

    def run(self, job_id: str) -> FinalizeResult:
        """Finalize ``job_id`` once; the result says whether it ended, or when to run it again."""
        try:
            with session_scope(self._sessions, write=True) as session:
                start = start_finalize(session=session, job_id=job_id, max_attempts=self._retry.max_attempts)
                attempt, error = start.attempt, start.job.error_message
            if start.outcome is FinalizeStartOutcome.ATTEMPTS_EXHAUSTED:
                log.error(
                    "job finalize failed: job=%s step=finalize attempts=%d error=%r", job_id, attempt, error
                )
                return FinalizeResult(FinalizeOutcome.FAILED)
            if not start.should_run:
                return FinalizeResult(FinalizeOutcome.SKIPPED)
            try:
                finished = self._finalizer.finalize(job_id)
            except (SQLAlchemyError, JobNotFound):
                raise
            except Exception as e:  # recorded on the job below: it is retried or it fails, never left running
                return self._failed(job_id, attempt, step_failure(e))
        except JobNotFound:  # deleted meanwhile
            return FinalizeResult(FinalizeOutcome.SKIPPED)
        return FinalizeResult(FinalizeOutcome.FINISHED if finished else FinalizeOutcome.SKIPPED)

    def _failed(self, job_id: str, attempt: int, failure: StepFailed) -> FinalizeResult:
        retry = self._retry
        with session_scope(self._sessions, write=True) as session:
            failed = fail_finalize(
                session=session,
                job_id=job_id,
                step=failure.step,
                error=str(failure),
                retryable=failure.retryable,
                max_attempts=retry.max_attempts,
            )
        result = (
            FinalizeResult(FinalizeOutcome.FAILED)
            if failed
            else FinalizeResult(FinalizeOutcome.RETRY, retry_in_s=retry.delay_s(attempt))
        )
        log.log(
            logging.ERROR if failed else logging.WARNING,
            "job finalize failed: job=%s step=%s attempt=%d/%d retryable=%s outcome=%s retry_in_s=%g "
            "error=%r",
            job_id,
            failure.step.value,
            attempt,
            retry.max_attempts,
            failure.retryable,
            result.outcome.value,
            result.retry_in_s,
            str(failure),
            exc_info=None if failure.retryable else failure,
        )
        return result


def step_failure(error: BaseException) -> StepFailed:
    """The step an error of the finalizer failed at: a tagged read or upload (also when an encoder wrapped
    it in its own error), otherwise ``encode``, which is never retried."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, StepFailed):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    failure = StepFailed(JobErrorStep.ENCODE, error, retryable=False)
    failure.__cause__ = error
    return failure


class StepBlobs:
    """The finalizer's blob store: a failed read raises ``StepFailed`` at ``read``, a failed write at
    ``upload`` (retryable when transient: ``TRANSIENT_ERRORS``); everything else is the wrapped store's."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def get(self, key: str) -> bytes:
        try:
            return self._blobs.get(key)
        except Exception as e:  # tagged and raised on (a time limit hit while reading counts as the read)
            raise StepFailed(JobErrorStep.READ, e, retryable=isinstance(e, TRANSIENT_ERRORS)) from e

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        try:
            self._blobs.put(key, data, content_type=content_type)
        except Exception as e:  # tagged and raised on
            raise StepFailed(JobErrorStep.UPLOAD, e, retryable=isinstance(e, TRANSIENT_ERRORS)) from e

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._blobs.open(key)

    def stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        return self._blobs.stream(key, chunk_size=chunk_size)

    def size(self, key: str) -> int:
        return self._blobs.size(key)

    def exists(self, key: str) -> bool:
        return self._blobs.exists(key)

    def delete(self, key: str) -> None:
        self._blobs.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        return self._blobs.delete_prefix(prefix)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return self._blobs.list_keys(prefix)

    def url_for(
        self, key: str, *, expires_in: timedelta = timedelta(hours=1), download_name: str | None = None
    ) -> str | None:
        return self._blobs.url_for(key, expires_in=expires_in, download_name=download_name)
