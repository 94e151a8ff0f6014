"""Building the jobs pieces from settings (called by the composition root and the worker entry point).

The Celery-side pieces are imported inside their builders, so the embedded mode never imports Celery.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from common.audio.whole import encode_file
from common.jobs.service import JobService
from common.settings import Settings
from common.webhooks.relay import OutboxRelay
from voice_store.blobs.port import BlobStore
from workers.engine_host import EngineHost
from workers.jobs.alignment import worker_aligner
from workers.jobs.embedded_queue import EmbeddedJobQueue
from workers.jobs.failures import FinalizeRetry, FinalizeRunner, StepBlobs
from workers.jobs.finalize import EncodeFile, Finalizer, StitchPolicy
from workers.jobs.segment_retry import SegmentRetry
from workers.jobs.segments import SegmentRunner, Synthesize
from workers.jobs.synthesis import HostSynthesizer

if TYPE_CHECKING:
    from workers.job_tasks import JobWorker

STALE_GRACE_S = 5.0
"""A task running this much longer than the hard time limit is no longer alive."""


def stitch_policy(settings: Settings) -> StitchPolicy:
    return StitchPolicy(
        segment_pause_ms=settings.seam_pause_ms,
        chapter_pause_ms=settings.jobs.chapter_pause_ms,
        fade_ms=settings.seam_fade_ms,
    )


def task_lifetime_s(settings: Settings) -> float:
    """How long a task may live: past the hard time limit (and a grace) none of it is still running. The
    janitor's window for work that holds no renewed lease: a finalize, a pending segment's message."""
    return settings.distributed.task_time_limit_s + STALE_GRACE_S


def segment_runner(
    settings: Settings,
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    synthesize: Synthesize,
    lease_s: float | None = None,
) -> SegmentRunner:
    return SegmentRunner(
        sessions=sessions,
        blobs=blobs,
        synthesize=synthesize,
        max_attempts=settings.jobs.max_segment_attempts,
        max_piece_chars=settings.max_piece_chars,
        lease_s=lease_s,
        aligner=worker_aligner(settings.aligner_model, settings.device),
    )


def job_service(
    settings: Settings, sessions: sessionmaker[Session], blobs: BlobStore, queue: Any
) -> JobService:
    return JobService(
        sessions=sessions,
        blobs=blobs,
        queue=queue,
        options=settings.jobs,
        max_piece_chars=settings.max_piece_chars,
        download_expiry=timedelta(seconds=settings.s3.presign_expiry_s),
    )


def finalize_runner(
    settings: Settings,
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    encode: EncodeFile | None = None,
) -> FinalizeRunner:
    """The finalize step with bounded attempts; its blob store tags read/upload failures with their step.
    ``encode`` replaces the encoder (``common.audio.whole.encode_file``): the tests' faults go there."""
    finalizer = Finalizer(
        sessions=sessions,
        blobs=StepBlobs(blobs),
        policy=stitch_policy(settings),
        encode_file=encode or encode_file,
    )
    retry = FinalizeRetry(
        max_attempts=settings.jobs.max_finalize_attempts, first_delay_s=settings.jobs.finalize_retry_delay_s
    )
    return FinalizeRunner(sessions=sessions, finalizer=finalizer, retry=retry)


def embedded_job_service(
    settings: Settings,
    host: EngineHost,
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    *,
    encode: EncodeFile | None = None,
) -> JobService:
    """Jobs run in this process: the in-process queue over the engine host thread."""
    queue = EmbeddedJobQueue(
        sessions=sessions,
        runner=segment_runner(settings, sessions, blobs, HostSynthesizer(host)),
        finalizer=finalize_runner(settings, sessions, blobs, encode),
        relay=OutboxRelay(sessions, options=settings.jobs),
        poll_s=settings.jobs.relay_poll_s,
        segment_retry=SegmentRetry(first_delay_s=settings.jobs.segment_retry_delay_s),
    )
    return job_service(settings, sessions, blobs, queue)


def distributed_job_service(
    settings: Settings, celery_app: Any, sessions: sessionmaker[Session], blobs: BlobStore
) -> JobService:
    """Jobs run on the Celery workers; this process's janitor re-enqueues what dead workers stranded."""
    from workers.jobs.celery_queue import CeleryJobQueue
    from workers.jobs.janitor import JobJanitor

    janitor = JobJanitor(
        sessions,
        CeleryJobQueue(celery_app),
        stale_after=timedelta(seconds=task_lifetime_s(settings)),
        interval_s=settings.jobs.sweep_interval_s,
    )
    return job_service(settings, sessions, blobs, janitor)


def job_worker(
    settings: Settings,
    celery_app: Any,
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    synthesize: Synthesize,
    *,
    encode: EncodeFile | None = None,
) -> JobWorker:
    """The job tasks' context in a worker process."""
    from workers.job_tasks import JobWorker
    from workers.jobs.celery_queue import CeleryJobQueue

    return JobWorker(
        runner=segment_runner(settings, sessions, blobs, synthesize, settings.jobs.segment_lease_s),
        finalizer=finalize_runner(settings, sessions, blobs, encode),
        relay=OutboxRelay(sessions, options=settings.jobs),
        queue=CeleryJobQueue(celery_app),
        segment_retry=SegmentRetry(first_delay_s=settings.jobs.segment_retry_delay_s),
        sessions=sessions,
    )
