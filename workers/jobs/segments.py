"""Run one segment of a job: the unit of work, safe to run twice and safe to be killed at any point.

Order of effects: (1) ``start_segment`` claims it (an attempt, a lease of ``lease_s``, a fencing token) and
commits, so a worker that dies mid-synthesis still used up an attempt and a poison segment fails its job after
``max_segment_attempts``; a delivery that finds a live claim (a duplicate message, a redelivery after a worker
loss while the lease runs) does nothing and counts nothing; (2) the audio is synthesized and stored under a
key derived from the position and the token, so two claims never overwrite each other's audio, while a thread
renews the lease every third of it (``claim_renewal``): a lease expires only once its holder is lost; (3)
``complete_segment`` with the token marks it done once; a superseded claim's late result is discarded and
its blob deleted. A redelivered task for a done segment does not synthesize again but still reports whether
the job is ready to finalize (the finalize trigger of a crashed run is not lost).
"""

from __future__ import annotations

import enum
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from common.audio.pcm import num_samples
from common.contracts import SAMPLE_RATE, SynthesisJob
from common.jobs.blob_keys import segment_key
from common.text import split_pieces
from voice_store.blobs.port import BlobStore
from voice_store.db import session_scope
from voice_store.errors import JobNotFound
from voice_store.job_transitions import SegmentStartOutcome, complete_segment, fail_segment, start_segment
from voice_store.models.jobs import JobSegment
from workers.jobs.alignment import SegmentAligner, words_key
from workers.jobs.claim_renewal import renewing

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
        lease_s: float | None = None,
        aligner: SegmentAligner | None = None,
    ) -> None:
        """``lease_s``: how long a claim holds its segment without a renewal (renewed every third of it while
        the segment runs; ``None``: no lease, one process runs everything); ``aligner``: word timings for jobs
        that ask (``timestamps``)."""
        self._sessions = sessions
        self._blobs = blobs
        self._synthesize = synthesize
        self._max_attempts = max_attempts
        self._max_piece_chars = max_piece_chars
        self._lease_s = lease_s
        self._aligner = aligner

    def run(self, job_id: str, position: int) -> SegmentOutcome:
        try:
            return self._run(job_id, position)
        except _Deleted as deleted:  # deleted meanwhile: drop what this attempt stored
            self._blobs.delete(segment_key(job_id, position, deleted.token))
            return SegmentOutcome.SKIPPED
        except JobNotFound:
            return SegmentOutcome.SKIPPED

    def _run(self, job_id: str, position: int) -> SegmentOutcome:
        with session_scope(self._sessions, write=True) as session:
            start = start_segment(
                session=session,
                job_id=job_id,
                position=position,
                max_attempts=self._max_attempts,
                owner=f"{socket.gethostname()}:{os.getpid()}",  # now: a forked child is its own owner
                lease_s=self._lease_s,
                owner_lost=owner_process_gone,
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
            if start.outcome in (SegmentStartOutcome.JOB_FINISHED, SegmentStartOutcome.CLAIMED):
                return SegmentOutcome.SKIPPED
            if start.outcome is SegmentStartOutcome.ATTEMPTS_EXHAUSTED:
                return SegmentOutcome.FAILED
            job = synthesis_job(
                segment.job.request, job_id, position, segment.text, self._max_piece_chars, segment.chapter
            )
            attempt, token = segment.attempts, start.token
            wants_words = segment.job.request.get("timestamps") == "word"
        log.info("job %s segment %d: attempt %d (claim %d)", job_id, position, attempt, token)
        key = segment_key(job_id, position, token)
        try:  # synthesis or storing its audio failed: an attempt used; retried, or the job fails
            with self._holding(job_id, position, token):
                pcm = b"".join(self._synthesize(job))
                self._blobs.put(key, pcm, content_type="audio/pcm")
                if wants_words:  # aligned here, where the audio is: the timings are stored beside it
                    self._store_words(key, pcm, job)
        except Exception as e:
            return self._failed(job_id, position, e, token)
        try:
            with session_scope(self._sessions, write=True) as session:
                ready = complete_segment(
                    session=session,
                    job_id=job_id,
                    position=position,
                    audio_blob_key=key,
                    audio_seconds=num_samples(pcm) / SAMPLE_RATE,
                    token=token,
                )
                superseded = session.get(JobSegment, (job_id, position)).audio_blob_key != key
        except JobNotFound as e:
            raise _Deleted(token) from e
        if superseded:  # a newer claim owns the segment: this late result is discarded
            log.warning("job %s segment %d: claim %d superseded: result discarded", job_id, position, token)
            self._blobs.delete(key)
            return SegmentOutcome.SKIPPED
        return SegmentOutcome.READY if ready else SegmentOutcome.DONE

    def _holding(self, job_id: str, position: int, token: int) -> AbstractContextManager[None]:
        """The claim's lease renewed while the body runs (no lease: nothing to renew)."""
        if self._lease_s is None:
            return nullcontext()
        return renewing(self._sessions, job_id=job_id, position=position, token=token, lease_s=self._lease_s)

    def _store_words(self, key: str, pcm: bytes, job: SynthesisJob) -> None:
        if self._aligner is None:
            raise RuntimeError("the job asks for word timestamps and this worker has no aligner_model")
        words = self._aligner.words_blob(pcm, " ".join(job.pieces), job.language)
        self._blobs.put(words_key(key), words, content_type="application/json")

    def _failed(self, job_id: str, position: int, error: Exception, token: int) -> SegmentOutcome:
        log.warning("job %s segment %d failed: %s", job_id, position, error, exc_info=error)
        message = f"{type(error).__name__}: {error}"
        with session_scope(self._sessions, write=True) as session:
            job = fail_segment(
                session=session,
                job_id=job_id,
                position=position,
                error=message,
                max_attempts=self._max_attempts,
                token=token,
            )
            return SegmentOutcome.FAILED if job.status.is_terminal else SegmentOutcome.RETRY


def owner_process_gone(owner: str) -> bool:
    """A claim's owner (``host:pid``) is a process of this host that no longer runs (or is a zombie): its
    claim is dead whatever its lease says. Another host's owner, or this process, is never judged here."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    try:  # a killed child its parent has not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class _Deleted(Exception):
    """The job was deleted while this claim ran: its blob is dropped."""

    def __init__(self, token: int) -> None:
        super().__init__(token)
        self.token = token


def synthesis_job(
    request: dict, job_id: str, position: int, text: str, max_piece_chars: int, chapter: int = 0
) -> SynthesisJob:
    """The engine's view of one segment: the job's planned voice/model/sampling (or its chapter's, after a
    regenerate with a new voice), the segment's text."""
    synthesis = (request.get("chapter_synthesis") or {}).get(str(chapter), request["synthesis"])
    return SynthesisJob.model_validate(
        {
            **synthesis,
            "request_id": f"{job_id}:{position}",
            "pieces": tuple(
                split_pieces(text, max_chars=max_piece_chars, language=synthesis.get("language"))
            ),
        }
    )
