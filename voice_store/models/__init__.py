"""ORM models, one module per domain. Importing this package registers every table on ``Base.metadata``."""

from voice_store.models.api_keys import ApiKey
from voice_store.models.base import Base
from voice_store.models.job_events import JobEvent
from voice_store.models.jobs import Job, JobSegment, JobStatus, SegmentStatus
from voice_store.models.voice_consents import VoiceConsent
from voice_store.models.voices import Voice, VoiceClonePrompt
from voice_store.models.webhooks import WebhookEndpoint, WebhookEvent, WebhookEventStatus

__all__ = [
    "ApiKey",
    "Base",
    "Job",
    "JobEvent",
    "JobSegment",
    "JobStatus",
    "SegmentStatus",
    "Voice",
    "VoiceClonePrompt",
    "VoiceConsent",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventStatus",
]
