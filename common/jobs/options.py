"""The ``jobs`` block of the service settings (``QWEN_TTS_JOBS__MAX_INPUT_CHARS=...`` etc.)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Standard Webhooks' suggested schedule: ~27 hours from the first attempt to the last.
DEFAULT_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class JobsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_chars: int = Field(default=1_000_000, ge=1, description="characters over all chapters")
    max_chapters: int = Field(default=1000, ge=1)
    max_chapter_title_chars: int = Field(default=200, ge=1)
    segment_chars: int = Field(default=1200, ge=64, description="text per segment task (sentence-aware)")
    max_segment_attempts: int = Field(
        default=3, ge=1, description="a segment failing this often fails the job"
    )
    segment_retry_delay_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="delay before a failed segment's next attempt; doubles, up to 60 s",
    )
    max_finalize_attempts: int = Field(
        default=3,
        ge=1,
        description="a finalize failing transiently (or losing its worker) this often fails the job",
    )
    finalize_retry_delay_s: float = Field(
        default=5.0, gt=0, le=300, description="delay before the first finalize retry; doubles after each"
    )
    chapter_pause_ms: float = Field(default=600.0, ge=0, le=10_000, description="silence between segments")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="per delivery attempt")
    webhook_retry_schedule_s: tuple[float, ...] = Field(
        default=DEFAULT_RETRY_SCHEDULE_S, description="delay before each retry; its length caps the retries"
    )
    webhook_retry_jitter: float = Field(default=0.2, ge=0, lt=1, description="± fraction of each delay")
    webhook_allow_private: bool = Field(
        default=False, description="on-premises: allow loopback/private callback addresses (never metadata)"
    )
    relay_poll_s: float = Field(default=1.0, gt=0, le=60, description="embedded mode: outbox poll period")
    segment_lease_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="distributed mode: a segment claim's lease, renewed by its worker every third of it",
    )
    sweep_interval_s: float = Field(
        default=10.0, gt=0, le=3600, description="distributed mode: stranded segments / due webhooks check"
    )
    events_poll_s: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="GET /v1/jobs/{id}/events: how often a stream reads the event log",
    )
    events_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="GET /v1/jobs/{id}/events: an SSE comment after this much quiet",
    )

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay <= 0 for delay in value):
            raise ValueError("every retry delay must be positive")
        return value
