"""Where a job's audio lives in the blob store (all under ``voice_store.jobs.job_blob_prefix``).

Keys are derived from positions, so a segment that is synthesized twice (a redelivered task) overwrites its
own blob: the output can only ever hold one copy of each segment.
"""

from __future__ import annotations

from voice_store.jobs import job_blob_prefix


def segment_key(job_id: str, position: int) -> str:
    return f"{job_blob_prefix(job_id)}segments/{position:06d}.pcm"


def chapter_key(job_id: str, chapter: int, fmt: str) -> str:
    return f"{job_blob_prefix(job_id)}chapters/{chapter:04d}.{fmt}"


def whole_key(job_id: str, fmt: str) -> str:
    return f"{job_blob_prefix(job_id)}audio.{fmt}"
