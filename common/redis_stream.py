"""The chunk-stream protocol of the distributed mode: one Redis Stream per request, worker → web process.

Keys of one request (all under the configured prefix, all expiring):

- ``stream``  the audio: entries ``{seq, pcm}`` (s16le bytes, ``seq`` = 0, 1, 2, …) — and, for a request
  with ``timestamps``, ``{seq, words}`` after each piece's audio (``seq``: audio entries so far) — then one
  final entry ``{seq, eof}``, ``{seq, error, kind, message}`` or ``{seq, cancelled}`` whose ``seq`` is the
  number of audio entries. Capped with ``XADD MAXLEN ~`` and refreshed with ``EXPIRE`` on every write.
- ``claim``   set once (``SET NX``) by the worker that runs the request; a redelivered copy of the task finds
  it taken and does nothing, so audio is never produced twice.
- ``lease``   the worker's heartbeat, a short-lived key it refreshes while it works. Claimed and lease gone
  without a final entry = the worker died: the reader raises a clean error within about one lease period.
- ``cancel``  set by the reader when its client goes away (value: audio entries consumed); the writer sees
  it on its next write and the task stops generating.

The reader reads from ``0-0``, so one that starts late loses nothing. The writer never waits for the reader:
a worker finishes at generation speed and moves on, the audio waits in Redis (bounded by the cap and TTL),
and a reader that falls behind the cap gets an error, never wrong audio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from common.errors import ServiceError
from common.periodic import beating
from common.settings import DistributedOptions
from common.word_timings import PieceWords, StreamItem

log = logging.getLogger(__name__)

SEQ, PCM, EOF, CANCELLED = "seq", "pcm", "eof", "cancelled"
WORDS = (
    "words"  # a piece's word timings (``PieceWords`` JSON), after its audio; ``seq`` = audio entries so far
)
ERROR, KIND, MESSAGE = "error", "kind", "message"  # error: the code; kind: the code of its error class

# KEYS: claim, lease, cancel; ARGV: owner, ttl_s, lease_ms. 1 = claimed, 0 = taken, -1 = cancelled.
_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
"""


@dataclass(frozen=True, slots=True)
class StreamKeys:
    stream: str
    claim: str
    lease: str
    cancel: str

    @classmethod
    def of(cls, prefix: str, request_id: str) -> StreamKeys:
        base = f"{prefix}req:{request_id}"
        return cls(
            stream=f"{base}:audio", claim=f"{base}:claim", lease=f"{base}:lease", cancel=f"{base}:cancel"
        )


@dataclass(frozen=True, slots=True)
class StreamLimits:
    ttl_s: int = 900
    max_entries: int = 20_000
    lease_ttl_s: float = 3.0
    start_timeout_s: float = 120.0

    @classmethod
    def from_options(cls, options: DistributedOptions) -> StreamLimits:
        return cls(
            ttl_s=options.stream_ttl_s,
            max_entries=options.stream_max_entries,
            lease_ttl_s=options.lease_ttl_s,
            start_timeout_s=options.start_timeout_s,
        )

    @property
    def lease_ms(self) -> int:
        return max(1, int(self.lease_ttl_s * 1000))


class RedisChunkWriter:
    """The worker side of one request (a ``ChunkSink``): claim, heartbeat, audio entries, one final entry.

    ``client`` is a synchronous ``redis.Redis``. Each ``put`` is one round trip: the entry, the TTL, the lease
    refresh and the cancel check travel in one pipeline.
    """

    def __init__(self, client: Any, keys: StreamKeys, limits: StreamLimits, *, owner: str) -> None:
        self._client = client
        self._keys = keys
        self._limits = limits
        self._owner = owner
        self._seq = 0
        self._cancelled = False
        self._closed = False

    @property
    def num_chunks(self) -> int:
        return self._seq

    def claim(self) -> bool:
        """Take the request; False when another delivery already has it or the reader has cancelled."""
        keys = [self._keys.claim, self._keys.lease, self._keys.cancel]
        args = [self._owner, self._limits.ttl_s, self._limits.lease_ms]
        outcome = int(self._client.eval(_CLAIM, len(keys), *keys, *args))
        self._cancelled = outcome == -1
        return outcome == 1

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    def has_room(self) -> bool:
        return True  # never wait for the reader: the audio waits in Redis

    def put(self, item: StreamItem) -> None:
        pipe = self._client.pipeline(transaction=False)
        if isinstance(item, PieceWords):  # not an audio entry: ``seq`` stays (the reader counts audio only)
            self._append(pipe, {SEQ: self._seq, WORDS: item.to_json()})
            pipe.execute()
            return
        self._append(pipe, {SEQ: self._seq, PCM: item})
        pipe.set(self._keys.lease, self._owner, px=self._limits.lease_ms)
        pipe.exists(self._keys.cancel)
        *_, cancelled = pipe.execute()
        self._seq += 1
        self._cancelled = bool(cancelled)

    def close(self, error: ServiceError | None = None) -> None:
        """The final entry (eof, error or cancelled), then the lease goes: the reader sees the end first."""
        if self._closed:
            return
        self._closed = True
        final: dict[str, Any] = {SEQ: self._seq}
        if error is not None:
            final |= {ERROR: error.code, KIND: type(error).code, MESSAGE: error.message}
        elif self._cancelled:
            final[CANCELLED] = 1
        else:
            final[EOF] = 1
        pipe = self._client.pipeline(transaction=True)
        self._append(pipe, final)
        pipe.delete(self._keys.lease)
        pipe.execute()

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Refresh the lease from a thread while the body runs (model loading or a slow first chunk)."""

        def beat() -> bool:
            try:
                self._client.set(self._keys.lease, self._owner, px=self._limits.lease_ms, xx=True)
            except RedisError as e:  # the next beat retries; the lease outlives one miss
                log.warning("lease refresh for %s failed: %s", self._keys.lease, e)
            return True

        with beating(beat, period_s=self._limits.lease_ttl_s / 3, name="stream-lease"):
            yield

    def _append(self, pipe: Any, fields: dict[str, Any]) -> None:
        pipe.xadd(self._keys.stream, fields, maxlen=self._limits.max_entries, approximate=True)
        pipe.expire(self._keys.stream, self._limits.ttl_s)
