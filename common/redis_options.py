"""How every Redis client of ours connects: a restarted Redis is reconnected to, not failed on later.

redis-py keeps pooled connections; after a Redis restart each one fails once with ``ConnectionError``
(``Connection lost``) the next time it is used, minutes later for a rarely used one. ``health_check_interval``
PINGs a connection idle that long before using it (a dead one is replaced), and ``retry`` re-runs a command
that met a connection or timeout error on a fresh connection with exponential backoff, so a Redis that is
back within about ``MAX_RETRY_S`` costs no request anything but latency.
"""

from __future__ import annotations

from typing import Any

from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

HEALTH_CHECK_INTERVAL_S = 10
RETRIES = 5
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
MAX_RETRY_S = 4.0  # about: 0.1 + 0.2 + 0.4 + 0.8 + 1.6 (plus jitter-free connect timeouts)


def redis_client_options(*, asyncio: bool, socket_timeout_s: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Redis.from_url`` (``asyncio``: for ``redis.asyncio.Redis``)."""
    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry  # type: ignore[assignment]
    return {
        "socket_connect_timeout": 5,
        "socket_timeout": socket_timeout_s,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": Retry(ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S), RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
