"""Persistence for the TTS service: database, migrations, repositories and blob stores.

Layout (one hop from the names):

- ``db``          engine/session factory from a URL, ``upgrade_schema`` (Alembic), ``session_scope``.
- ``models``      SQLAlchemy 2 typed ORM tables, one module per domain.
- ``voices``      voice-profile repository (``create_voice``, ``get_voice``, ``list_voices`` ...).
- ``api_keys``    API-key repository (``create_api_key`` → plaintext shown once, ``verify_api_key`` ...).
- ``jobs``        async-job repository: create (idempotent), get, list, delete.
- ``job_transitions``  segment and finalize start/complete/fail, finish and cancel, under the job's row lock.
- ``webhooks``    webhook endpoints and the event outbox.
- ``blobs``       the ``BlobStore`` port with ``LocalBlobStore`` and ``S3BlobStore``.
- ``pagination``  ``Page`` (items + opaque ``next_cursor``) for keyset-paginated listings.
- ``errors``      every typed domain error raised by this package.

Nothing here reads settings or the environment: every function takes explicit parameters. Repository
functions never commit; the caller owns the unit of work (``session_scope`` commits on success).
This package imports neither torch nor the web layer.
"""
