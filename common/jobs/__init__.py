"""Async synthesis jobs for long-form audio (issue 7), the parts shared by the API and the workers.

- ``options``       the ``jobs`` settings block (limits, segment size, attempts, webhook delivery policy).
- ``segmentation``  chapters → sentence-aware segments (each segment is one task).
- ``blob_keys``     where a job's segment audio and outputs live in the blob store.
- ``ports``         ``JobQueue``: how the API hands a committed job to whatever runs it.
- ``service``       create (idempotent, webhook endpoint, commit then enqueue), read, list, cancel, delete.

No torch and no Celery here; the runners live in ``workers.jobs``.
"""
