"""``/v1/jobs``: async synthesis of long texts (submit, poll, list, cancel, delete, download).

Handlers parse, call ``common.jobs.service.JobService`` (sync, so in a thread) and shape the reply. A job is
planned like a speech request (``web.speech_plan``: voice, model routing, language), then handed to the
service, which commits it before anything is enqueued.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from common.audio.formats import FORMATS
from common.errors import InvalidRequest, Unavailable
from common.jobs.service import JobService, JobSubmission
from common.subtitles import SUBTITLE_FORMATS
from voice_store.models.jobs import JobStatus
from web.deps import AppState, CurrentKey, StateDep
from web.errors import error_responses
from web.jobs_schemas import CreatedJobView, JobRequest, JobView, job_view
from web.schemas import SpeechRequest, VoiceObject
from web.speech import require_aligner
from web.speech_plan import Limits, plan_speech

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
SubtitleFormat = Literal["srt", "vtt", "json"]


def content_type(fmt: str) -> str:
    return FORMATS[fmt].content_type  # m4b/m4a (job-only) included


def job_service(state: StateDep) -> JobService:
    if state.services.jobs is None:
        raise Unavailable("async jobs are not enabled on this server")
    return state.services.jobs


Jobs = Annotated[JobService, Depends(job_service)]
DOWNLOAD_ERRORS = error_responses(404, 409, 503)  # 409: no audio yet


async def plan_job_synthesis(
    state: AppState, jobs: JobService, request: SpeechRequest, voice: str | VoiceObject
) -> dict[str, Any]:
    """A job's stored synthesis: ``request`` planned like ``/v1/audio/speech`` (with the jobs' input limit),
    without the per-request fields."""
    settings = state.services.settings
    plan = plan_speech(
        request,
        await state.catalog.resolve(voice),
        models=state.services.dispatcher.models(),
        default_model=settings.default_model,
        limits=Limits(max_input_chars=jobs.options.max_input_chars, max_piece_chars=settings.max_piece_chars),
        request_id="job",
    )
    return plan.job.model_dump(mode="json", exclude={"request_id", "pieces"})


@router.post("", status_code=202, response_model=CreatedJobView, responses=error_responses(409, 503))
async def create_job(
    body: JobRequest,
    state: StateDep,
    key: CurrentKey,
    jobs: Jobs,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> CreatedJobView:
    if body.timestamps is not None:
        require_aligner(state)
    chapters = body.chapter_list()
    first_text = next((c.text for c in chapters if c.text.strip()), "")
    synthesis = await plan_job_synthesis(state, jobs, body.speech_request(first_text), body.voice)
    request = body.canonical() | {"synthesis": synthesis, "chapter_titles": [c.title for c in chapters]}
    submission = JobSubmission(
        request=request,
        model=synthesis["model"],
        chapters=chapters,
        callback_url=body.callback_url,
        idempotency_key=idempotency_key,
        api_key_id=key.id if key else None,
        cover=body.book.cover_image() if body.book else None,
    )
    created = await asyncio.to_thread(jobs.create, submission)
    if not created.created:
        response.headers["Idempotent-Replayed"] = "true"
    webhook = None
    if created.webhook_secret is not None and created.job.webhook_endpoint_id is not None:
        webhook = {"endpoint_id": created.job.webhook_endpoint_id, "secret": created.webhook_secret}
    return CreatedJobView(**job_view(created.job).model_dump(), webhook=webhook)


@router.get("", response_model=dict, responses=error_responses(503))
def list_jobs(
    key: CurrentKey,
    jobs: Jobs,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    status: JobStatus | None = None,
) -> dict[str, object]:
    page = jobs.list(api_key_id=key.id if key else None, limit=limit, cursor=after, status=status)
    details = jobs.details([j.id for j in page.items])
    return {
        "object": "list",
        "data": [job_view(j, details.get(j.id)).model_dump(mode="json") for j in page.items],
        "has_more": page.next_cursor is not None,
        "next_cursor": page.next_cursor,
    }


@router.get("/{job_id}", response_model=JobView, responses=error_responses(404, 503))
def get_job(job_id: str, key: CurrentKey, jobs: Jobs) -> JobView:
    job = jobs.get(job_id, api_key_id=key.id if key else None)
    return job_view(job, jobs.details([job.id]).get(job.id))


@router.post("/{job_id}/cancel", response_model=JobView, responses=error_responses(404, 409, 503))
def cancel_job(job_id: str, key: CurrentKey, jobs: Jobs) -> JobView:
    job = jobs.cancel(job_id, api_key_id=key.id if key else None)
    return job_view(job, jobs.details([job.id]).get(job.id))


@router.delete("/{job_id}", responses=error_responses(404, 409, 503))
def delete_job(job_id: str, key: CurrentKey, jobs: Jobs) -> dict[str, object]:
    jobs.delete(job_id, api_key_id=key.id if key else None)
    return {"id": job_id, "object": "job", "deleted": True}


@router.get("/{job_id}/audio", response_class=Response, responses=DOWNLOAD_ERRORS)
def job_audio(job_id: str, key: CurrentKey, jobs: Jobs) -> Response:
    return _download(jobs, job_id, key.id if key else None, chapter=None)


@router.get("/{job_id}/chapters/{chapter}/audio", response_class=Response, responses=DOWNLOAD_ERRORS)
def chapter_audio(job_id: str, chapter: int, key: CurrentKey, jobs: Jobs) -> Response:
    if chapter < 0:
        raise InvalidRequest("chapter numbers start at 0", param="chapter")
    return _download(jobs, job_id, key.id if key else None, chapter=chapter)


@router.get("/{job_id}/subtitles.{fmt}", response_class=Response, responses=DOWNLOAD_ERRORS)
def job_subtitles(job_id: str, fmt: SubtitleFormat, key: CurrentKey, jobs: Jobs) -> Response:
    """The whole book's subtitles (a job created with ``"timestamps": "word"``)."""
    return _download(jobs, job_id, key.id if key else None, chapter=None, subtitles=fmt)


@router.get(
    "/{job_id}/chapters/{chapter}/subtitles.{fmt}", response_class=Response, responses=DOWNLOAD_ERRORS
)
def chapter_subtitles(
    job_id: str, chapter: int, fmt: SubtitleFormat, key: CurrentKey, jobs: Jobs
) -> Response:
    if chapter < 0:
        raise InvalidRequest("chapter numbers start at 0", param="chapter")
    return _download(jobs, job_id, key.id if key else None, chapter=chapter, subtitles=fmt)


def _download(
    jobs: JobService,
    job_id: str,
    api_key_id: str | None,
    *,
    chapter: int | None,
    subtitles: str | None = None,
) -> Response:
    download = jobs.download(job_id, api_key_id=api_key_id, chapter=chapter, subtitles=subtitles)
    if download.url is not None:
        return RedirectResponse(download.url, status_code=307)
    return StreamingResponse(
        jobs.stream(download.key),
        media_type=SUBTITLE_FORMATS[download.format][0] if subtitles else content_type(download.format),
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )
