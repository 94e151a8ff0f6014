"""Where the API serves a job's outputs: shared by the job view, its events and the webhook."""

from __future__ import annotations


def output_url(job_id: str, chapter: int | None, kind: str = "audio", fmt: str = "") -> str:
    """The path of an audio output, or of a subtitle output (``kind`` subtitles, ``fmt`` srt/vtt/json)."""
    name = "audio" if kind == "audio" else f"subtitles.{fmt}"
    return f"/v1/jobs/{job_id}/{name}" if chapter is None else f"/v1/jobs/{job_id}/chapters/{chapter}/{name}"
