"""``GET /v1/jobs/{id}/events``: a job's progress as Server-Sent Events, resumable with ``Last-Event-ID``.

The event log in the database (``voice_store.job_events``, written by the job transitions in the transaction
of each state change) is the source of truth; this route reads it every ``jobs.events_poll_s`` with one
indexed query per stream, in embedded and distributed mode alike. Polling rather than a Redis wakeup: there
is no wakeup to miss, and a reconnect is the same query as a poll. Each event's SSE ``id`` is its log id, so
a client that reconnects with ``Last-Event-ID`` gets exactly the events it missed. The stream ends after the
terminal event (``job.succeeded`` / ``job.failed`` / ``job.canceled``); an SSE comment every
``jobs.events_heartbeat_s`` of quiet keeps proxies from closing it. Auth and ownership as
``GET /v1/jobs/{id}``: an unknown job (or another key's) is a 404 envelope before the stream starts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from common.errors import InvalidRequest
from common.jobs.output_urls import output_url_of
from common.jobs.service import JobEventRecord, JobService
from voice_store.errors import JobNotFound
from voice_store.job_events import CHAPTER_COMPLETED
from web.deps import CurrentKey
from web.errors import error_responses
from web.jobs_routes import Jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def event_json(job_id: str, event: JobEventRecord) -> dict[str, Any]:
    """The ``data:`` of one SSE event: the log entry with download URLs added."""
    data = dict(event.data)
    if event.type == CHAPTER_COMPLETED:
        data["url"] = output_url_of(job_id, data)
    if "outputs" in data:
        data["outputs"] = [o | {"url": output_url_of(job_id, o)} for o in data["outputs"]]
    created_at = int(event.created_at.timestamp())
    return {"id": event.id, "type": event.type, "job_id": job_id, "created_at": created_at, "data": data}


def sse_message(job_id: str, event: JobEventRecord) -> str:
    payload = json.dumps(event_json(job_id, event), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n"


def parse_last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    if not value.strip().isdigit():
        raise InvalidRequest("Last-Event-ID must be the id of an event of this stream", param="Last-Event-ID")
    return int(value.strip())


async def event_stream(
    jobs: JobService, job_id: str, api_key_id: str | None, after_id: int
) -> AsyncIterator[str]:
    poll_s, heartbeat_s = jobs.options.events_poll_s, jobs.options.events_heartbeat_s
    yield f"retry: {int(poll_s * 2000)}\n\n"  # how soon a browser's EventSource reconnects
    quiet_since = time.monotonic()
    while True:
        try:
            batch = await asyncio.to_thread(jobs.events, job_id, api_key_id=api_key_id, after_id=after_id)
        except JobNotFound:
            return  # deleted meanwhile (only finished jobs can be): its terminal event was already due
        for event in batch.events:
            yield sse_message(job_id, event)
            after_id = event.id
            if event.is_terminal:
                return
        if batch.ended:
            return  # ended before this stream's position (a reconnect after the end, or an old job)
        if batch.events:
            quiet_since = time.monotonic()
            if batch.full:
                continue  # more may be waiting: read on at once
        elif time.monotonic() - quiet_since >= heartbeat_s:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll_s)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}} | error_responses(400, 404, 503),
)
async def job_events(
    job_id: str,
    key: CurrentKey,
    jobs: Jobs,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """SSE: ``job.progress``, ``job.chapter.completed`` (with its URL), then one terminal event."""
    api_key_id = key.id if key else None
    after_id = parse_last_event_id(last_event_id)
    await asyncio.to_thread(jobs.get, job_id, api_key_id=api_key_id)  # JobNotFound → 404 before the stream
    return StreamingResponse(
        event_stream(jobs, job_id, api_key_id, after_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
