"""Run one segment of a job: the unit of work, safe to run twice and safe to be killed at any point.

Order of effects: (1) ``start_segment`` counts an attempt and commits, so a worker that dies mid-synthesis
still used up an attempt and a poison segment fails its job after ``max_segment_attempts``; (2) the audio is
synthesized and stored under a key derived from the position, so a rerun overwrites rather than duplicates;
(3) ``complete_segment`` marks it done once. A redelivered task for a done segment does not synthesize again
but still reports whether the job is ready to finalize (the finalize trigger of a crashed run is not lost).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session, sessionmaker

from common.audio.pcm import num_samples
from common.contracts import SAMPLE_RATE, SynthesisJob
from common.jobs.blob_keys import segment_key
from common.text import split_pieces
from voice_store.blobs.port import BlobStore
from voice_store.db import session_scope
from voice_store.errors import JobNotFound
from voice_store.job_transitions import SegmentStartOutcome, complete_segment, fail_segment, start_segment

log = logging.getLogger(__name__)

Synthesize = Callable[[SynthesisJob], Iterator[bytes]]
"""Run a ``SynthesisJob``; its audio as 24 kHz s16le PCM chunks."""


class SegmentOutcome(enum.Enum):
    DONE = "done"  # stored; other segments are still pending
    READY = "ready"  # every segment of the job is done: finalize it
    SKIPPED = "skipped"  # nothing to do (the job ended, or was deleted)
    RETRY = "retry"  # this attempt failed; run the segment again
    FAILED = "failed"  # out of attempts: the job has failed


class SegmentRunner:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        synthesize: Synthesize,
        max_attempts: int,
        max_piece_chars: int,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._synthesize = synthesize
        self._max_attempts = max_attempts
        self._max_piece_chars = max_piece_chars

    def run(self, job_id: str, position: int) -> SegmentOutcome:
        try:
            return self._run(job_id, position)
        except JobNotFound:  # deleted meanwhile: drop what this attempt stored
            self._blobs.delete(segment_key(job_id, position))
            return SegmentOutcome.SKIPPED

    def _run(self, job_id: str, position: int) -> SegmentOutcome:
        with session_scope(self._sessions, write=True) as session:
            start = start_segment(
                session=session, job_id=job_id, position=position, max_attempts=self._max_attempts
            )
            segment = start.segment
            if start.outcome is SegmentStartOutcome.ALREADY_DONE:
                ready = complete_segment(
                    session=session,
                    job_id=job_id,
                    position=position,
                    audio_blob_key=segment.audio_blob_key or segment_key(job_id, position),
                    audio_seconds=segment.audio_seconds or 0.0,
                )
                return SegmentOutcome.READY if ready else SegmentOutcome.SKIPPED
            if start.outcome is SegmentStartOutcome.JOB_FINISHED:
                return SegmentOutcome.SKIPPED
            if start.outcome is SegmentStartOutcome.ATTEMPTS_EXHAUSTED:
                return SegmentOutcome.FAILED
            job = synthesis_job(segment.job.request, job_id, position, segment.text, self._max_piece_chars)
            attempt = segment.attempts
        log.info("job %s segment %d: attempt %d", job_id, position, attempt)
        key = segment_key(job_id, position)
        try:  # synthesis or storing its audio failed: an attempt used; retried, or the job fails
            pcm = b"".join(self._synthesize(job))
            self._blobs.put(key, pcm, content_type="audio/pcm")
        except Exception as e:
            return self._failed(job_id, position, e)
        with session_scope(self._sessions, write=True) as session:
            ready = complete_segment(
                session=session,
                job_id=job_id,
                position=position,
                audio_blob_key=key,
                audio_seconds=num_samples(pcm) / SAMPLE_RATE,
            )
        return SegmentOutcome.READY if ready else SegmentOutcome.DONE

    def _failed(self, job_id: str, position: int, error: Exception) -> SegmentOutcome:
        log.warning("job %s segment %d failed: %s", job_id, position, error, exc_info=error)
        message = f"{type(error).__name__}: {error}"
        with session_scope(self._sessions, write=True) as session:
            job = fail_segment(
                session=session,
                job_id=job_id,
                position=position,
                error=message,
                max_attempts=self._max_attempts,
            )
            return SegmentOutcome.FAILED if job.status.is_terminal else SegmentOutcome.RETRY


def synthesis_job(request: dict, job_id: str, position: int, text: str, max_piece_chars: int) -> SynthesisJob:
    """The engine's view of one segment: the job's planned voice/model/sampling, the segment's text."""
    return SynthesisJob.model_validate(
        {
            **request["synthesis"],
            "request_id": f"{job_id}:{position}",
            "pieces": tuple(
                split_pieces(text, max_chars=max_piece_chars, language=request["synthesis"].get("language"))
            ),
        }
    )
