"""Running async jobs (issue 7): the engine-side half, shared by the embedded queue and the Celery tasks.

- ``segments``   run one segment: count the attempt, synthesize, store its audio, mark it done (idempotent).
- ``finalize``   stitch a finished job's segments per chapter and whole, encode, store, finish the job.
- ``synthesis``  ``Synthesize`` adapters: through the embedded ``EngineHost`` thread, or a resident engine.
- ``embedded_queue``  the in-process ``JobQueue`` of the embedded mode (resumes unfinished jobs at start).
"""
