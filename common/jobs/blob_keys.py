"""Where a job's audio lives in the blob store (all under ``voice_store.jobs.job_blob_prefix``).

Segment keys are derived from the position and the claim's fencing token, so two claims of one segment (a
superseded one finishing late) never overwrite each other's audio: the row names the one the output uses.
"""

from __future__ import annotations

from voice_store.jobs import job_blob_prefix


def segment_key(job_id: str, position: int, token: int = 0) -> str:
    suffix = f"-{token}" if token else ""
    return f"{job_blob_prefix(job_id)}segments/{position:06d}{suffix}.pcm"


def chapter_key(job_id: str, chapter: int, fmt: str) -> str:
    return f"{job_blob_prefix(job_id)}chapters/{chapter:04d}.{fmt}"


def cover_key(job_id: str, extension: str) -> str:
    """The audiobook's cover image (jpeg or png), stored when the job is created."""
    return f"{job_blob_prefix(job_id)}cover.{extension}"


def whole_key(job_id: str, fmt: str) -> str:
    return f"{job_blob_prefix(job_id)}audio.{fmt}"
