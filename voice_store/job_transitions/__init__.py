"""Job state transitions (issue 7): what segment tasks, the finalize step and cancel requests call.

API (keyword-only; functions flush but never commit; run each in ``session_scope(..., write=True)``)::

    start = start_segment(session=s, job_id=..., position=3, max_attempts=3,  # run if start.should_run
                          owner="host:pid", lease_s=30)                         # CLAIMED: a live claim has it
    held = renew_claim(session=s, job_id=..., position=3, token=start.token, lease_s=30)  # False: superseded
    ready = complete_segment(session=s, job_id=..., position=3, audio_blob_key=..., audio_seconds=2.1,
                             token=start.token)                                 # superseded token: discarded
    job = fail_segment(session=s, job_id=..., position=3, error="...", max_attempts=3, token=start.token)
    refs = expired_claims(s, now=..., unleased_before=...)  # the janitor then: release_expired(s, ref, ...)
    refs = stranded_pending(s, enqueued_before=...)         # the janitor then: note_enqueued(s, ref, ...)
    start = start_finalize(session=s, job_id=..., max_attempts=3)              # run only if start.should_run
    failed = fail_finalize(session=s, job_id=..., step=JobErrorStep.UPLOAD, error="...", retryable=True,
                           max_attempts=3)                                      # False: run it again later
    note_requeued(session=s, job_id=...)      # the janitor sent its work again: its stale window restarts
    finished = finish_job(session=s, job_id=..., status=JobStatus.SUCCEEDED, outputs=[...])
    job = cancel_job(session=s, job_id=...)

Guarantees. Every transition locks the job row first (``SELECT ... FOR UPDATE`` on Postgres; ``write=True``
makes SQLite serialize them too), so concurrent segment tasks never lose a progress update. A done segment is
never redone (``start_segment`` says ``ALREADY_DONE``) and completing it again changes nothing. Each
``start_segment`` and each ``start_finalize`` counts an attempt, so a segment or a finalize whose worker
keeps dying fails the job after ``max_attempts`` instead of looping; a deterministic finalize failure
(``retryable=False``) fails it at once. ``complete_segment`` returns True whenever every segment is done and
the job is not finished, so a finalize step lost in a crash is triggered again by a retried segment.
``finish_job`` moves a job to a terminal state only once and, in the same transaction, writes the job's
webhook event to the outbox: a job produces exactly one completion webhook. A failed job carries
``error_code`` (``segment_failed``, ``finalize_failed``, ``enqueue_failed``), ``error_message`` and
``error_step`` (a ``JobErrorStep``).

Layout: ``finish`` (the row lock, finish, cancel, the event payload), ``segments`` (claims with renewed
leases and fencing tokens), ``claims`` (the janitor's reconciliation), ``finalize``.
"""

from voice_store.job_transitions.claims import (
    SegmentRef,
    expired_claims,
    note_enqueued,
    release_expired,
    stranded_pending,
)
from voice_store.job_transitions.finalize import (
    FinalizeStart,
    FinalizeStartOutcome,
    fail_finalize,
    note_requeued,
    start_finalize,
)
from voice_store.job_transitions.finish import cancel_job, finish_job, job_event_payload, lock_job
from voice_store.job_transitions.segments import (
    SegmentStart,
    SegmentStartOutcome,
    complete_segment,
    fail_segment,
    renew_claim,
    start_segment,
)

__all__ = [
    "FinalizeStart",
    "FinalizeStartOutcome",
    "SegmentRef",
    "SegmentStart",
    "SegmentStartOutcome",
    "cancel_job",
    "complete_segment",
    "expired_claims",
    "fail_finalize",
    "fail_segment",
    "finish_job",
    "job_event_payload",
    "lock_job",
    "note_enqueued",
    "note_requeued",
    "release_expired",
    "renew_claim",
    "start_finalize",
    "start_segment",
    "stranded_pending",
]
