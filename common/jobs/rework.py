"""Retry a failed job, or regenerate one chapter of an ended job: the service side of the rework routes.

Why apart from ``JobService.create``: rework reopens a committed job instead of writing a new one; the
transitions (``voice_store.job_transitions.rework``) decide what runs again, this module commits, drops the
audio no longer used and hands the reopened segments to the same ``JobQueue`` (only after the commit). The
finalize then rebuilds the book and chapter files from the parts, old and new.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.errors import Conflict, InvalidRequest
from common.jobs.ports import JobQueue
from common.jobs.segmentation import Chapter, segment_chapters
from voice_store.blobs.port import BlobStore
from voice_store.db import session_scope
from voice_store.errors import InvalidInputError
from voice_store.job_transitions.rework import JobNotReworkable, Reopened, regenerate_chapter, retry_job
from voice_store.models.jobs import Job

log = logging.getLogger(__name__)


class JobRework:
    def __init__(
        self, *, sessions: sessionmaker[Session], blobs: BlobStore, queue: JobQueue, segment_chars: int
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._queue = queue
        self._segment_chars = segment_chars

    def retry(self, job_id: str, *, api_key_id: str | None) -> Job:
        """Run the failed (and unfinished) segments of a failed job again, then its finalize."""
        with session_scope(self._sessions, write=True) as session:
            try:
                reopened = retry_job(session=session, job_id=job_id, api_key_id=api_key_id)
            except JobNotReworkable as e:
                raise Conflict(str(e), code="job_not_retryable") from e
        log.info("job %s retried: %d segments again", job_id, len(reopened.positions))
        return self._submit(reopened)

    def regenerate(
        self,
        job_id: str,
        chapter: int,
        *,
        api_key_id: str | None,
        text: str | None,
        synthesis: dict[str, Any] | None,
    ) -> Job:
        """Synthesize ``chapter`` again (with new ``text`` and/or ``synthesis``); other chapters are kept."""
        segments = None
        if text is not None:
            language = (synthesis or {}).get("language")
            segments = segment_chapters(
                [Chapter(None, text)], max_chars=self._segment_chars, language=language
            )
            if not segments:
                raise InvalidRequest("the chapter has no text to speak", param="input", code="empty_input")
            segments = [type(s)(text=s.text, chapter=chapter) for s in segments]
        with session_scope(self._sessions, write=True) as session:
            try:
                reopened = regenerate_chapter(
                    session=session,
                    job_id=job_id,
                    chapter=chapter,
                    segments=segments,
                    synthesis=synthesis,
                    api_key_id=api_key_id,
                )
            except JobNotReworkable as e:
                raise Conflict(str(e), code="job_not_ended") from e
            except InvalidInputError as e:
                raise InvalidRequest(str(e), param="chapter") from e
        for key in reopened.dropped_blob_keys:
            self._blobs.delete(key)
        log.info("job %s chapter %d regenerated: %d segments", job_id, chapter, len(reopened.positions))
        return self._submit(reopened, model=(synthesis or {}).get("model"))

    def _submit(self, reopened: Reopened, model: str | None = None) -> Job:
        job = reopened.job
        self._queue.submit(
            job.id, model=model or job.request["synthesis"]["model"], positions=reopened.positions
        )
        return job
