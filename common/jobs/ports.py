"""How the API hands a committed job to whatever runs it (in-process queue or Celery)."""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    def start(self) -> None:
        """Begin running (the embedded queue resumes unfinished jobs here); called from the app lifespan."""
        ...

    def close(self) -> None: ...

    def submit(self, job_id: str, *, model: str, positions: list[int]) -> None:
        """Run these segments of a committed job (then its finalize); called only after the commit."""
        ...

    def deliver_webhooks(self) -> None:
        """An event was committed to the webhook outbox (e.g. by a cancel): send it soon."""
        ...
