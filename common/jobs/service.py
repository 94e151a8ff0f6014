"""The jobs service: what the API's routes call (sync; run it in a thread from async code).

``create`` validates the chapters, segments them, checks the callback URL (SSRF guard), finds or creates the
caller's webhook endpoint, writes the job and its segments, commits, and only then hands the job to the
``JobQueue``. An ``Idempotency-Key`` replay returns the first job and enqueues nothing; with a different
request it is a 409. ``voice_store``'s typed errors pass through: the web layer's one error mapping turns them
into envelopes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.audio.book_tags import Cover
from common.errors import Conflict, InvalidRequest, NotFound, Unavailable
from common.jobs.blob_keys import cover_key
from common.jobs.options import JobsOptions
from common.jobs.output_urls import find_output
from common.jobs.ports import JobQueue
from common.jobs.rework import JobRework
from common.jobs.segmentation import Chapter, segment_chapters
from common.webhooks.ssrf import Resolver, check_url, system_resolver
from voice_store import job_events, job_transitions, jobs, webhooks
from voice_store.blobs.port import BlobStore
from voice_store.db import session_scope
from voice_store.job_details import JobDetails, read_job_details
from voice_store.models.jobs import Job, JobErrorStep, JobStatus
from voice_store.pagination import Page

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobSubmission:
    """A planned job: ``request`` is the canonical request (hashed for idempotency, kept on the job)."""

    request: dict[str, Any]
    model: str
    chapters: Sequence[Chapter]
    callback_url: str | None = None
    idempotency_key: str | None = None
    api_key_id: str | None = None
    cover: Cover | None = None  # the m4b's cover: stored beside the job's audio before it is queued


@dataclass(frozen=True, slots=True)
class CreatedJob:
    job: Job
    created: bool
    webhook_secret: str | None  # only when this request created the endpoint: shown once


@dataclass(frozen=True, slots=True)
class Download:
    """Where a job output is: a presigned ``url``, or the blob to stream."""

    key: str
    url: str | None
    filename: str
    format: str


@dataclass(frozen=True, slots=True)
class JobEventRecord:
    """One logged job event (``voice_store.job_events``), detached from the session."""

    id: int
    type: str
    data: dict[str, Any]
    created_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.type in job_events.TERMINAL_TYPES


@dataclass(frozen=True, slots=True)
class JobEventsBatch:
    events: list[JobEventRecord]
    ended: bool  # the job had ended before these were read: once they are sent, nothing more will come
    full: bool  # as many as asked for: more may be waiting already


class JobService:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        queue: JobQueue,
        options: JobsOptions,
        max_piece_chars: int,
        download_expiry: timedelta = timedelta(hours=1),
        resolver: Resolver = system_resolver,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._queue = queue
        self._options = options
        self._max_piece_chars = max_piece_chars
        self._download_expiry = download_expiry
        self._resolver = resolver

    def start(self) -> None:
        self._queue.start()

    def close(self) -> None:
        self._queue.close()

    @property
    def options(self) -> JobsOptions:
        return self._options

    @property
    def rework(self) -> JobRework:
        """Retry a failed job, regenerate a chapter (``common.jobs.rework``)."""
        return JobRework(
            sessions=self._sessions,
            blobs=self._blobs,
            queue=self._queue,
            segment_chars=self._options.segment_chars,
        )

    def create(self, submission: JobSubmission) -> CreatedJob:
        self._check_chapters(submission.chapters)
        language = submission.request.get("synthesis", {}).get("language")  # for the sentence ends
        segments = segment_chapters(
            submission.chapters, max_chars=self._options.segment_chars, language=language
        )
        if not segments:
            raise InvalidRequest("the job has no text to speak", param="input", code="empty_input")
        if submission.callback_url is not None:
            check_url(
                submission.callback_url,
                allow_private=self._options.webhook_allow_private,
                resolver=self._resolver,
            )
        with session_scope(self._sessions, write=True) as session:
            endpoint_id, secret = self._endpoint(session, submission)
            job, created = jobs.create_job(
                session=session,
                request=submission.request,
                segments=segments,
                api_key_id=submission.api_key_id,
                idempotency_key=submission.idempotency_key,
                webhook_endpoint_id=endpoint_id,
            )
            if not created:  # a replay: the first request enqueued it
                return CreatedJob(job=job, created=False, webhook_secret=None)
        try:
            if submission.cover is not None:
                cover = submission.cover
                image = io.BytesIO(cover.data)
                self._blobs.put(
                    cover_key(job.id, cover.extension), image, content_type=f"image/{cover.extension}"
                )
            self._queue.submit(job.id, model=submission.model, positions=list(range(len(segments))))
        except Exception as e:  # the broker's own errors, whatever the adapter: never leave it queued forever
            self._fail_unqueued(job.id, e)
            raise Unavailable(f"the job could not be queued: {e}") from e
        log.info("job %s queued: %d segments", job.id, len(segments))
        return CreatedJob(job=job, created=True, webhook_secret=secret)

    def get(self, job_id: str, *, api_key_id: str | None) -> Job:
        with session_scope(self._sessions) as session:
            return jobs.get_job(session=session, job_id=job_id, api_key_id=api_key_id)

    def events(
        self, job_id: str, *, api_key_id: str | None, after_id: int, limit: int = 100
    ) -> JobEventsBatch:
        """The job's events after ``after_id``; ``JobNotFound`` unless the job is there (and the key's).

        The status is read before the events: a job seen ended has all its events in the log already (they
        are written in the transaction that ends it), so an empty batch of an ended job means the end."""
        with session_scope(self._sessions) as session:
            job = jobs.get_job(session=session, job_id=job_id, api_key_id=api_key_id)
            ended = job.status.is_terminal
            rows = job_events.list_events(session=session, job_id=job_id, after_id=after_id, limit=limit)
            events = [JobEventRecord(r.id, r.type, dict(r.data), r.created_at) for r in rows]
        full = len(events) >= limit
        return JobEventsBatch(events=events, ended=ended and not full, full=full)

    def list(
        self, *, api_key_id: str | None, limit: int, cursor: str | None, status: JobStatus | None
    ) -> Page[Job]:
        with session_scope(self._sessions) as session:
            return jobs.list_jobs(
                session=session, limit=limit, cursor=cursor, status=status, api_key_id=api_key_id
            )

    def details(self, job_ids: Sequence[str]) -> dict[str, JobDetails]:
        """Per-chapter progress and webhook delivery of jobs already read (and checked) by get or list."""
        with session_scope(self._sessions) as session:
            return read_job_details(session=session, job_ids=job_ids)

    def cancel(self, job_id: str, *, api_key_id: str | None) -> Job:
        with session_scope(self._sessions, write=True) as session:
            job = job_transitions.cancel_job(session=session, job_id=job_id, api_key_id=api_key_id)
        if job.webhook_endpoint_id is not None:
            self._queue.deliver_webhooks()
        return job

    def delete(self, job_id: str, *, api_key_id: str | None) -> None:
        """Delete a finished job, then its audio (segments and outputs)."""
        with session_scope(self._sessions, write=True) as session:
            jobs.delete_job(session=session, job_id=job_id, api_key_id=api_key_id)
        removed = self._blobs.delete_prefix(jobs.job_blob_prefix(job_id))
        log.info("job %s deleted with %d blobs", job_id, removed)

    def download(
        self, job_id: str, *, api_key_id: str | None, chapter: int | None = None, subtitles: str | None = None
    ) -> Download:
        """An audio output; with ``subtitles`` (srt, vtt, json) a subtitle output (book or chapter)."""
        job = self.get(job_id, api_key_id=api_key_id)
        if job.status is not JobStatus.SUCCEEDED or not job.outputs:
            raise Conflict(f"job {job_id!r} has no audio yet: it is {job.status.value}", code="job_not_ready")
        output = find_output(job.outputs, chapter=chapter, subtitles=subtitles)
        if output is None and subtitles is not None and any(o.get("chapter") == chapter for o in job.outputs):
            raise NotFound(f"job {job_id!r} has no subtitles: create it with timestamps", param="timestamps")
        if output is None:
            raise NotFound(f"job {job_id!r} has no chapter {chapter}", param="chapter")
        suffix = "" if chapter is None else f"-chapter-{chapter + 1:03d}"
        filename = f"{job_id}{suffix}.{output['format']}"
        url = self._blobs.url_for(
            output["blob_key"], expires_in=self._download_expiry, download_name=filename
        )
        return Download(key=output["blob_key"], url=url, filename=filename, format=output["format"])

    def stream(self, key: str) -> Iterator[bytes]:
        return self._blobs.stream(key)

    # -- internals -----------------------------------------------------------------------------------------
    def _check_chapters(self, chapters: Sequence[Chapter]) -> None:
        options = self._options
        if not chapters:
            raise InvalidRequest("give `input` or at least one chapter", param="chapters")
        if len(chapters) > options.max_chapters:
            raise InvalidRequest(f"at most {options.max_chapters} chapters", param="chapters")
        total = sum(len(c.text) for c in chapters)
        if total > options.max_input_chars:
            raise InvalidRequest(
                f"the text is {total} characters long; the limit is {options.max_input_chars}",
                param="input",
                code="input_too_long",
            )

    def _fail_unqueued(self, job_id: str, error: Exception) -> None:
        with session_scope(self._sessions, write=True) as session:
            job_transitions.finish_job(
                session=session,
                job_id=job_id,
                status=JobStatus.FAILED,
                error_code="enqueue_failed",
                error_message=f"the job could not be queued: {error}",
                error_step=JobErrorStep.ENQUEUE,
            )

    def _endpoint(self, session: Session, submission: JobSubmission) -> tuple[str | None, str | None]:
        url, key = submission.callback_url, submission.api_key_id
        if url is None:
            return None, None
        if (endpoint := webhooks.find_webhook_endpoint(session=session, url=url, api_key_id=key)) is not None:
            return endpoint.id, None
        endpoint, secret = webhooks.create_webhook_endpoint(session=session, url=url, api_key_id=key)
        return endpoint.id, secret
