"""Where the API serves a job's outputs (shared by the job view, its events and the webhook), and which
stored output a download asks for."""

from __future__ import annotations

from typing import Any


def output_url(job_id: str, chapter: int | None, kind: str = "audio", fmt: str = "") -> str:
    """The path of an audio output, or of a subtitle output (``kind`` subtitles, ``fmt`` srt/vtt/json)."""
    name = "audio" if kind == "audio" else f"subtitles.{fmt}"
    return f"/v1/jobs/{job_id}/{name}" if chapter is None else f"/v1/jobs/{job_id}/chapters/{chapter}/{name}"


def output_url_of(job_id: str, output: dict[str, Any]) -> str:
    """``output_url`` of a stored output entry (``chapter``, ``kind``, ``format``)."""
    return output_url(job_id, output.get("chapter"), output.get("kind", "audio"), output.get("format", ""))


def find_output(
    outputs: list[dict[str, Any]], *, chapter: int | None, subtitles: str | None = None
) -> dict[str, Any] | None:
    """The book's (``chapter`` None) or a chapter's audio output, or its ``subtitles`` (srt/vtt/json) one."""
    kind = "audio" if subtitles is None else "subtitles"
    matches = (
        o
        for o in outputs
        if o.get("chapter") == chapter and o.get("kind", "audio") == kind and subtitles in (None, o["format"])
    )
    return next(matches, None)
