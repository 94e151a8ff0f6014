"""A small Server-Sent Events reader over httpx, for the job events tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]


def read_events(
    client: httpx.Client, job_id: str, *, last_event_id: int | None = None, comments: list[str] | None = None
) -> Iterator[SseEvent]:
    """The events of ``GET /v1/jobs/{id}/events`` until the server ends the stream (or the caller stops)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                if comments is not None:
                    comments.append(line)
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif "data" in fields:
                body = json.loads(fields["data"])
                assert (body["id"], body["type"]) == (int(fields["id"]), fields["event"])
                yield SseEvent(body["id"], body["type"], body["data"])
                fields = {}
            else:
                fields = {}


def all_events(client: httpx.Client, job_id: str, **kwargs: Any) -> list[SseEvent]:
    return list(read_events(client, job_id, **kwargs))


def check_sequence(events: list[SseEvent], *, terminal: str, chapters: int) -> None:
    """Progress events counting up, the chapters' completions with their URLs, then exactly one terminal."""
    assert [e.id for e in events] == sorted({e.id for e in events})
    progress = [e.data["segments_done"] for e in events if e.type == "job.progress"]
    assert progress == list(range(1, len(progress) + 1))
    done = [e for e in events if e.type == "job.chapter.completed"]
    assert [e.data["chapter"] for e in done] == list(range(chapters))
    assert all(e.data["url"].endswith(f"/chapters/{e.data['chapter']}/audio") for e in done)
    assert events[-1].type == terminal
    assert [e.type for e in events].count(terminal) == 1
