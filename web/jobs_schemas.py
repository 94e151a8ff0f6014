"""Bodies of the async jobs API (``/v1/jobs``): the create request and the job view."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.jobs.output_urls import output_url
from common.jobs.segmentation import Chapter
from voice_store.job_details import JobDetails
from voice_store.models.jobs import Job, JobErrorStep
from web.jobs_book_schemas import LOUDNESS_DESCRIPTION, BookIn, Loudness, RoomToneIn
from web.schemas import (
    Language,
    RepetitionPenalty,
    ResponseFormat,
    Seed,
    SpeechRequest,
    Temperature,
    TopK,
    TopP,
    VoiceObject,
)

MAX_METADATA_BYTES = 16 * 1024
_NOT_SPEECH = {
    "input",
    "chapters",
    "callback_url",
    "metadata",
    "response_format",
    "loudness",
    "room_tone",
    "book",
    "timestamps",
}


class ChapterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    text: str


class JobRequest(BaseModel):
    """``POST /v1/jobs``: the speech parameters of ``/v1/audio/speech`` for a long text or chapters."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="tts-1", min_length=1, max_length=100)
    input: str | None = None
    chapters: list[ChapterIn] | None = Field(default=None, min_length=1)
    voice: str | VoiceObject
    instructions: str | None = Field(default=None, max_length=4096)
    response_format: Literal[ResponseFormat, "m4b"] = Field(  # one Literal: its error lists every format
        default="mp3", description="m4b: one audiobook file with chapter marks (chapters alone as m4a)"
    )
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    language: Language = None
    seed: Seed = None
    temperature: Temperature = None
    top_p: TopP = None
    top_k: TopK = None
    repetition_penalty: RepetitionPenalty = None
    callback_url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] | None = None
    loudness: Loudness | None = Field(default=None, description=LOUDNESS_DESCRIPTION)
    room_tone: RoomToneIn | None = Field(default=None, description="overrides the loudness target's default")
    book: BookIn | None = Field(default=None, description="m4b only: title, author, narrator, cover")
    timestamps: Literal["word"] | None = Field(
        default=None,
        description="word: subtitles (srt, vtt) and a JSON of words per chapter and for the book, as outputs "
        "(kind subtitles); needs the server's aligner_model",
    )

    @model_validator(mode="after")
    def _one_source(self) -> JobRequest:
        if (self.input is None) == (self.chapters is None):
            raise ValueError("give exactly one of `input` (one text) or `chapters` ([{title, text}, ...])")
        if self.book is not None and self.response_format != "m4b":
            raise ValueError("`book` (tags and cover) needs response_format m4b")
        return self

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return value

    def chapter_list(self) -> list[Chapter]:
        if self.chapters is None:
            return [Chapter(title=None, text=self.input or "")]
        return [Chapter(title=c.title, text=c.text) for c in self.chapters]

    def speech_request(self, text: str) -> SpeechRequest:
        """The speech request for ``text``: a job is planned exactly like ``/v1/audio/speech``."""
        fields = self.model_dump(exclude=_NOT_SPEECH)
        return SpeechRequest(**fields, input=text)

    def canonical(self) -> dict[str, Any]:
        """What identifies this request (for ``Idempotency-Key``): the text only as its digest."""
        texts = json.dumps([[c.title, c.text] for c in self.chapter_list()], ensure_ascii=False)
        body = self.model_dump(mode="json", exclude={"input", "chapters", "book"})
        book = None if self.book is None else self.book.stored(self.book.cover_image())
        return body | {"text_sha256": hashlib.sha256(texts.encode()).hexdigest(), "book": book}


class Progress(BaseModel):
    segments_done: int
    segments_total: int
    percent: float
    audio_seconds: float


class JobError(BaseModel):
    """Why a job failed; the same object is the webhook's ``data.error``."""

    code: str = Field(description="segment_failed, finalize_failed or enqueue_failed")
    message: str
    step: JobErrorStep | None = Field(
        default=None,
        description="where it failed: segment, enqueue, or a finalize step: read (segment audio from the "
        "blob store), encode (stitch, encode, mux), upload (an output to the blob store), finalize (its "
        "worker was lost in every attempt)",
    )


class JobOutput(BaseModel):
    chapter: int | None
    title: str | None
    kind: Literal["audio", "subtitles"] = Field(default="audio", description="subtitles: srt, vtt or json")
    format: str
    duration_s: float | None
    url: str
    loudness: dict[str, Any] | None = Field(
        default=None,
        description="with a loudness target: {target, before, after}, each measured as integrated_lufs, "
        "true_peak_dbtp, sample_peak_dbfs, rms_dbfs",
    )


class ChapterProgressView(BaseModel):
    chapter: int
    segments_done: int
    segments_total: int


class WebhookDeliveryView(BaseModel):
    """The job's latest webhook event and how its delivery stands."""

    event_type: str = Field(description="job.succeeded, job.failed or job.canceled")
    status: str = Field(description="pending (being sent or retried), delivered, failed (given up)")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None


class JobView(BaseModel):
    id: str
    object: Literal["job"] = "job"
    status: str
    model: str | None
    response_format: str | None
    progress: Progress
    error: JobError | None
    outputs: list[JobOutput]
    metadata: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    chapters: list[ChapterProgressView] = Field(default_factory=list, description="progress per chapter")
    webhook_delivery: WebhookDeliveryView | None = Field(
        default=None, description="null until the job ends with a callback_url"
    )


class CreatedJobView(JobView):
    webhook: dict[str, str] | None = Field(
        default=None, description="{endpoint_id, secret}: the signing secret, shown only when first created"
    )


def job_view(job: Job, details: JobDetails | None = None) -> JobView:
    """``details`` (``JobService.details``): the chapters' progress and the webhook's delivery, when read."""
    request = job.request or {}
    details = details or JobDetails()
    total = max(job.segments_total, 1)
    return JobView(
        id=job.id,
        status=job.status.value,
        model=request.get("synthesis", {}).get("model"),
        response_format=request.get("response_format"),
        progress=Progress(
            segments_done=job.segments_done,
            segments_total=job.segments_total,
            percent=round(100.0 * job.segments_done / total, 1),
            audio_seconds=round(job.audio_seconds, 3),
        ),
        error=(
            JobError(
                code=job.error_code,
                message=job.error_message or "",
                step=JobErrorStep(job.error_step) if job.error_step else None,
            )
            if job.error_code
            else None
        ),
        outputs=[
            JobOutput(
                chapter=o.get("chapter"),
                title=o.get("title"),
                kind=o.get("kind", "audio"),
                format=o["format"],
                duration_s=o.get("duration_s"),
                url=output_url(job.id, o.get("chapter"), o.get("kind", "audio"), o["format"]),
                loudness=o.get("loudness"),
            )
            for o in job.outputs or []
        ],
        metadata=request.get("metadata"),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        chapters=[ChapterProgressView(**asdict(c)) for c in details.chapters],
        webhook_delivery=WebhookDeliveryView(**asdict(details.webhook)) if details.webhook else None,
    )
