"""The Celery app of the distributed mode, built from settings (no module-level app, nothing read at import).

Reliability choices:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged when it finishes; if its worker
  process dies, the message goes back to the queue. A stream task finishes once its claimed request is handed
  to the child's engine host (``workers.runtime``): a redelivered one finds the request already claimed
  (``common.redis_stream``) and does nothing, and a reader whose worker died gets the loss from the lease.
  Job segment tasks wait for their audio, so they are acknowledged only when it is stored.
- ``worker_prefetch_multiplier=1`` with ``-c 1``: a worker holds at most the task it runs. A stream task
  blocks while its child runs ``optimization.max_batch_size`` requests, so a busy worker takes no more and a
  queued request goes to whichever worker has room first.
- ``visibility_timeout`` above the hard time limit (checked by the settings): Redis never redelivers a task
  that is still running.
- soft time limit (an error entry is written) below the hard limit (the child is killed). Celery applies
  them to task bodies; for the requests a child's engine host runs after their task returned, the host applies
  the same two limits (``workers.engine_host.TimeLimits``, ``workers.step_watchdog``).
- soft shutdown: on SIGTERM the child's ``worker_process_shutdown`` gives the requests in flight
  ``soft_shutdown_timeout_s`` to finish; any still running then end with an error entry.
- ``worker_proc_alive_timeout`` long enough for ``worker_process_init`` to load and warm the models.
- stream tasks carry ``expires`` (the reader's start timeout): one that waited longer is discarded unrun.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.settings import Settings, SettingsError

MODEL_LOAD_TIMEOUT_S = 1800.0
"""How long a worker child may take in ``worker_process_init`` (loading + warming every model it serves)."""

CONTROL_QUEUE = "tts.control"


def celery_config(settings: Settings) -> dict[str, Any]:
    options = settings.distributed
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": options.visibility_timeout_s,
            "global_keyprefix": options.key_prefix,
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": options.task_time_limit_s,
        "task_soft_time_limit": options.task_soft_time_limit_s,
        "worker_soft_shutdown_timeout": options.soft_shutdown_timeout_s,
        "worker_enable_soft_shutdown_on_idle": False,
        "worker_proc_alive_timeout": MODEL_LOAD_TIMEOUT_S,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": CONTROL_QUEUE,
        "task_create_missing_queues": True,
    }


def create_celery_app(settings: Settings) -> Celery:
    if settings.redis_url is None:
        raise SettingsError("the distributed mode needs redis_url (QWEN_TTS_REDIS_URL=redis://host:6379/0)")
    app = Celery("qwen3_tts", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app
