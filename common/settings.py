"""Service settings: one pydantic-settings class, read from the environment and the original config.yaml.

Precedence (highest first): explicit overrides (CLI flags) > environment (``QWEN_TTS_*``, nested with ``__``,
e.g. ``QWEN_TTS_OPTIMIZATION__USE_CUDA_GRAPHS=false``) > the config file > defaults. The config file is the
one the original server read: ``$TTS_CONFIG`` or ``~/qwen3-tts/config.yaml``. Every key in it is honoured or
rejected with a message that names the key; a retired key (``RETIRED_KEYS``) still loads, with a warning
that says why it no longer does anything. Nothing is read until ``load_settings`` is called.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from common.jobs.options import JobsOptions
from common.validation import error_reason

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("~/qwen3-tts/config.yaml")

RETIRED_KEYS: dict[str, str] = {
    "ffmpeg": "audio is encoded and decoded in process (PyAV); no ffmpeg binary is used",
}
"""Top-level keys older configs may hold that no longer mean anything: accepted, warned about, ignored."""

RELEASED_MODELS: dict[str, str] = {
    "0.6B-CustomVoice": "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice",
    "0.6B-Base": "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
    "1.7B-CustomVoice": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice",
    "1.7B-VoiceDesign": "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign",
    "1.7B-Base": "Qwen/Qwen3-TTS-12Hz-1.7B-Base",
}


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


class StreamingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emit_every_frames: int | None = Field(
        default=None, ge=1, le=250, description="codec frames (80 ms each) per streamed chunk after the first"
    )
    decode_window_frames: int | None = None

    @field_validator("decode_window_frames")
    @classmethod
    def _no_window(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError(
                "decode_window_frames is not used by this server: its codec decoder is exact and "
                "incremental, "
                "so there is no re-decode window to size; delete the key"
            )
        return value


class OptimizationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compile_mode: (
        Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None
    ) = None
    use_cuda_graphs: bool | None = Field(default=None, description="one graph per frame; None: on for CUDA")
    quantize: Literal["int8"] | None = Field(
        default=None,
        description="int8 weights for the talker and code predictor, quantized at load; None: dtype",
    )
    cpu_threads: Literal["auto"] | PositiveInt = Field(
        default="auto",
        description="CPU threads of the decode steps; auto: the fastest count under the machine's load, "
        "measured while decoding (fewer when other processes want the cores)",
    )
    max_batch_size: int = Field(
        default=4, ge=1, le=256, description="streams decoded together, one frame per step (more wait)"
    )
    max_prompt_len: int = Field(
        default=1024,
        ge=64,
        le=32768,
        description="prompt positions (text, instruct, a clone's reference codes); with max_frames_per_piece "
        "it sizes each stream's KV cache",
    )
    streaming: StreamingOptions = StreamingOptions()


class S3Options(BaseModel):
    """The S3 (or MinIO) blob store of the distributed mode; unset ``bucket`` keeps the local blob dir."""

    model_config = ConfigDict(extra="forbid")

    bucket: str | None = None
    endpoint_url: str | None = Field(default=None, description="e.g. http://minio:9000; None for AWS")
    public_endpoint_url: str | None = Field(default=None, description="host presigned URLs are signed for")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    create_bucket: bool = False
    presign_expiry_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)


class DistributedOptions(BaseModel):
    """Celery workers and Redis chunk streams (used when ``redis_url`` is set)."""

    model_config = ConfigDict(extra="forbid")

    key_namespace: str = Field(
        default="qwen3-tts",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="every Redis key of this deployment (Celery queues included) starts with '<namespace>:'",
    )
    task_time_limit_s: int = Field(default=900, ge=10, description="hard limit: the worker child is killed")
    task_soft_time_limit_s: int = Field(default=870, ge=5, description="the task ends with an error entry")
    visibility_timeout_s: int = Field(default=3600, description="unacked task redelivery; > hard limit")
    soft_shutdown_timeout_s: float = Field(default=60.0, ge=0, description="running tasks finish on SIGTERM")
    stream_ttl_s: int = Field(default=900, ge=10, description="every stream/cancel/claim key expires")
    stream_max_entries: int = Field(default=20_000, ge=100, description="XADD MAXLEN ~ per request stream")
    lease_ttl_s: float = Field(default=3.0, gt=0, le=60, description="a silent worker is dead after this")
    start_timeout_s: float = Field(default=120.0, gt=0, description="a queued request waits this long")
    canary_timeout_s: float = Field(default=2.0, gt=0, le=60)
    readiness_cache_s: float = Field(default=5.0, ge=0, le=300)
    memory_budget_gb: float | None = Field(
        default=None, gt=0, description="resident models per worker; None = 90% of the GPU, no cap on CPU"
    )

    @property
    def key_prefix(self) -> str:
        return f"{self.key_namespace}:"

    @model_validator(mode="after")
    def _limits_ordered(self) -> DistributedOptions:
        if self.task_soft_time_limit_s >= self.task_time_limit_s:
            raise ValueError("task_soft_time_limit_s must be below task_time_limit_s")
        if self.visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError(
                "visibility_timeout_s must exceed task_time_limit_s, or Redis redelivers running tasks"
            )
        return self


class RealtimeOptions(BaseModel):
    """``WS /v1/audio/speech/stream`` (``QWEN_TTS_REALTIME__*``)."""

    idle_timeout_s: float = Field(
        default=60.0, gt=0, description="a socket silent this long, with no audio due, closes"
    )
    max_message_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="larger client frames close 1009 (ref_audio rides config)",
    )
    max_sentence_chars: int = Field(
        default=300, ge=16, description="an unpunctuated stream is split at this length"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QWEN_TTS_", env_nested_delimiter="__", extra="forbid")

    # server
    host: str = Field(
        default="127.0.0.1",
        description="the address to bind: loopback unless told (the images and compose files bind 0.0.0.0)",
    )
    port: int = Field(default=8880, ge=1, le=65535)
    log_level: str = "info"
    # models (config.yaml: default_model, models)
    default_model: str = "0.6B-CustomVoice"
    models: dict[str, str] = Field(default_factory=lambda: dict(RELEASED_MODELS))
    preload_models: list[str] = Field(
        default_factory=list, description="loaded at start; default_model always"
    )
    aligner_model: str | None = Field(
        default=None,
        description="Qwen3-ForcedAligner for word timestamps: a hub repo id or a local directory; None: off",
    )
    device: str = "cpu"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    optimization: OptimizationOptions = OptimizationOptions()
    # storage (embedded defaults live under data_dir)
    data_dir: Path = Path("~/qwen3-tts")
    database_url: str | None = None
    blob_dir: Path | None = None
    # distributed mode (on when redis_url is set): Celery broker + chunk streams, S3 blobs
    redis_url: str | None = None
    s3: S3Options = S3Options()
    distributed: DistributedOptions = DistributedOptions()
    # requests
    max_input_chars: int = Field(default=4096, ge=1)
    max_piece_chars: int = Field(default=300, ge=16, description="long input is split into pieces this long")
    max_frames_per_piece: int = Field(default=2048, ge=1, description="12.5 frames per second of audio")
    seam_pause_ms: float = Field(default=120.0, ge=0, le=2000)
    seam_fade_ms: float = Field(default=10.0, gt=0, le=100)
    # exposure once API keys exist (with none, the server is open)
    public_listings: bool = Field(
        default=False, description="GET /v1/audio/voices and /v1/audio/models without a key (Open WebUI)"
    )
    metrics_token: str | None = Field(
        default=None, description="GET /metrics with this bearer token (a scraper's), besides any valid key"
    )
    # admission
    max_streams_per_key: int = Field(default=4, ge=1)
    max_queue_depth: int = Field(default=32, ge=1)
    retry_after_s: int = Field(default=2, ge=1)
    max_queue_wait_s: float = Field(
        default=10.0, ge=0, description="a request expected to wait longer than this for a decode row: 429"
    )
    max_buffered_chunks: int = Field(default=2, ge=1, description="chunks generated ahead of a slow client")
    # async jobs (/v1/jobs): limits, segmenting, webhook delivery
    jobs: JobsOptions = JobsOptions()
    realtime: RealtimeOptions = RealtimeOptions()

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for key in RETIRED_KEYS.keys() & data.keys():
            del data[key]
            log.warning("settings: %r is no longer used (%s); it is ignored", key, RETIRED_KEYS[key])
        return data

    @model_validator(mode="after")
    def _known_models(self) -> Settings:
        for name in [self.default_model, *self.preload_models]:
            if name not in self.models:
                raise ValueError(f"model {name!r} is not in the models map (known: {', '.join(self.models)})")
        return self

    @property
    def run_mode(self) -> Literal["embedded", "distributed"]:
        return "distributed" if self.redis_url else "embedded"

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'qwen3-tts.sqlite3'}"

    @property
    def resolved_blob_dir(self) -> Path:
        return (self.blob_dir or self.resolved_data_dir / "blobs").expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges file, environment and overrides itself (so tests can pass an env mapping)
        return (init_settings,)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SettingsError(f"cannot read config file {path}: {e}") from e
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping at the top level")
    return data


def config_path_from(env: Mapping[str, str]) -> Path | None:
    """``$TTS_CONFIG`` if set (it must exist), else ``~/qwen3-tts/config.yaml`` when present."""
    if explicit := env.get("TTS_CONFIG"):
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"TTS_CONFIG points to {path}, which is not a file")
        return path
    default = DEFAULT_CONFIG_PATH.expanduser()
    return default if default.is_file() else None


def _describe(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else error_reason(item)
        lines.append(f"  {key}: {reason}")
    return f"invalid settings ({origin}):\n" + "\n".join(lines)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: overrides > environment > config file > defaults."""
    env = os.environ if env is None else env
    path = config_path or config_path_from(env)
    file_values = read_config_file(path) if path else {}
    origin = f"config file {path} and QWEN_TTS_* environment" if path else "QWEN_TTS_* environment"
    env_values = _env_values(env)
    merged = _deep_merge(_deep_merge(file_values, env_values), dict(overrides or {}))
    try:
        return Settings(**merged)
    except ValidationError as e:
        raise SettingsError(_describe(e, origin)) from e


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """``QWEN_TTS_A__B=v`` → ``{"a": {"b": v}}``; values that look like JSON/YAML are parsed."""
    values: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith("QWEN_TTS_"):
            continue
        path = key[len("QWEN_TTS_") :].lower().split("__")
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw.strip() else raw
    return values


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
