"""``/v1/jobs/{id}/retry`` and ``/v1/jobs/{id}/chapters/{n}/regenerate``: rework an ended job.

Retry runs only the failed segments of a failed job (everything already made is kept); regenerate synthesizes
one chapter again with new text and/or a new voice (planned like a job: ``web.speech_plan``), and the finalize
rebuilds the book and chapter files from the parts. Both answer 202 with the reopened job (``running``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from common.errors import InvalidRequest
from web.deps import CurrentKey, StateDep
from web.errors import error_responses
from web.jobs_routes import Jobs, plan_job_synthesis
from web.jobs_schemas import JobView, job_view
from web.schemas import Language, SpeechRequest, VoiceObject

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class RegenerateRequest(BaseModel):
    """What changes for the chapter; anything left out stays as the job had it."""

    model_config = ConfigDict(extra="forbid")

    input: str | None = Field(default=None, description="the chapter's new text (default: its text)")
    voice: str | VoiceObject | None = None
    instructions: str | None = Field(default=None, max_length=4096)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    language: Language = None


@router.post(
    "/{job_id}/retry", status_code=202, response_model=JobView, responses=error_responses(404, 409, 503)
)
async def retry_job(job_id: str, key: CurrentKey, jobs: Jobs) -> JobView:
    job = await asyncio.to_thread(jobs.rework.retry, job_id, api_key_id=key.id if key else None)
    return job_view(job)


@router.post(
    "/{job_id}/chapters/{chapter}/regenerate",
    status_code=202,
    response_model=JobView,
    responses=error_responses(404, 409, 503),
)
async def regenerate_chapter(
    job_id: str, chapter: int, body: RegenerateRequest, state: StateDep, key: CurrentKey, jobs: Jobs
) -> JobView:
    if chapter < 0:
        raise InvalidRequest("chapter numbers start at 0", param="chapter")
    api_key_id = key.id if key else None
    synthesis = None
    if body.model_dump(exclude={"input"}, exclude_none=True):
        stored = (await asyncio.to_thread(jobs.get, job_id, api_key_id=api_key_id)).request
        synthesis = await _synthesis(state, jobs, stored, body)
    job = await asyncio.to_thread(
        jobs.rework.regenerate, job_id, chapter, api_key_id=api_key_id, text=body.input, synthesis=synthesis
    )
    return job_view(job)


async def _synthesis(
    state: Any, jobs: Any, stored: dict[str, Any], body: RegenerateRequest
) -> dict[str, Any]:
    """The chapter's synthesis: the job's speech fields with the body's changes, planned like a new job."""
    fields = set(SpeechRequest.model_fields) - {"input", "response_format"}
    speech = {k: v for k, v in stored.items() if k in fields} | body.model_dump(
        exclude={"input"}, exclude_none=True
    )
    request = SpeechRequest(**speech, input=body.input or "text")
    return await plan_job_synthesis(state, jobs, request, request.voice)
