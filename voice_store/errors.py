"""Typed domain errors of the persistence layer.

Every error derives from ``StoreError``; the web layer maps the three families to HTTP statuses in one place:
``NotFoundError`` → 404, ``ConflictError`` → 409, ``InvalidInputError`` → 400 (``AuthenticationError`` → 401).
Messages are safe to show to clients.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by ``voice_store``."""


class NotFoundError(StoreError):
    """The addressed record or blob does not exist."""


class ConflictError(StoreError):
    """The request conflicts with the current state (a uniqueness rule or a state transition)."""


class InvalidInputError(StoreError, ValueError):
    """A parameter is malformed (bad name, bad blob key, bad cursor, out-of-range limit)."""


class AuthenticationError(StoreError):
    """A credential is missing, malformed, unknown, revoked or expired."""


class VoiceNotFound(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"voice {ref!r} not found")
        self.ref = ref


class VoiceNameTaken(ConflictError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a voice named {name!r} already exists (names are case-insensitive)")
        self.name = name


class InvalidVoiceName(InvalidInputError):
    pass


class ApiKeyNotFound(NotFoundError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} not found")
        self.key_id = key_id


class InvalidApiKey(AuthenticationError):
    """Deliberately one error for malformed, unknown, revoked and expired keys (no oracle for guessing)."""

    def __init__(self) -> None:
        super().__init__("invalid API key")


class JobNotFound(NotFoundError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class JobSegmentNotFound(NotFoundError):
    def __init__(self, job_id: str, index: int) -> None:
        super().__init__(f"segment {index} of job {job_id!r} not found")
        self.job_id = job_id
        self.index = index


class JobAlreadyFinished(ConflictError):
    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is already {status}")
        self.job_id = job_id
        self.status = status


class IdempotencyKeyReused(ConflictError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")
        self.key = key


class WebhookEndpointNotFound(NotFoundError):
    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"webhook endpoint {endpoint_id!r} not found")
        self.endpoint_id = endpoint_id


class WebhookEventNotFound(NotFoundError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"webhook event {event_id!r} not found")
        self.event_id = event_id


class InvalidCursor(InvalidInputError):
    pass


class InvalidBlobKey(InvalidInputError):
    pass


class BlobNotFound(NotFoundError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key!r} not found")
        self.key = key


class SchemaError(StoreError):
    """The database schema could not be upgraded or is not at the expected revision."""


class VoiceVersionStale(ConflictError):
    def __init__(self, voice_id: str, version: int, current: int) -> None:
        super().__init__(f"voice {voice_id!r} is at version {current}, not {version}")
        self.voice_id = voice_id
        self.version = version
        self.current = current


class BlobStoreError(StoreError):
    """The blob store failed (unreachable, denied, misconfigured); the cause is chained."""


class JobNotFinished(ConflictError):
    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is still {status}: cancel it first")
        self.job_id = job_id
        self.status = status


class ConsentNotFound(NotFoundError):
    def __init__(self, consent_id: str) -> None:
        super().__init__(f"voice consent {consent_id!r} not found")
        self.consent_id = consent_id


class ConsentInUse(ConflictError):
    def __init__(self, consent_id: str, voice_count: int) -> None:
        super().__init__(
            f"voice consent {consent_id!r} is used by {voice_count} voice(s); delete those voices first"
        )
        self.consent_id = consent_id
