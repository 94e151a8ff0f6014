"""How long a failed segment waits before its next attempt: a first delay, doubling, capped.

Why a backoff: a segment fails for a reason that may pass (an engine out of memory under load, a blob store
hiccup); retrying at once would spend its bounded attempts (``max_segment_attempts``) in a few milliseconds.
Only the failed segment waits and is retried: the job's other segments keep running.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from voice_store.db import session_scope
from voice_store.models.jobs import JobSegment


@dataclass(frozen=True, slots=True)
class SegmentRetry:
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        return min(self.first_delay_s * 2 ** max(attempt - 1, 0), self.max_delay_s)

    def after(self, sessions: sessionmaker[Session], job_id: str, position: int) -> float:
        """The wait before the next attempt of this segment (from the attempts its row has counted)."""
        with session_scope(sessions) as session:
            segment = session.get(JobSegment, (job_id, position))
            return self.delay_s(segment.attempts if segment is not None else 1)
