"""The ``BlobStore`` port and the key rules every adapter enforces.

Keys are relative POSIX-style paths: segments of ``[A-Za-z0-9_][A-Za-z0-9._-]*`` joined by ``/``, at most 512
characters. No empty, ``.``/``..`` or dot-leading segments, no leading slash, no backslash: a key can never
leave the store's root, and names starting with a dot stay free for an adapter's temporary files. Prefixes
(for ``list_keys``/``delete_prefix``) are ``""`` or a valid key followed by ``/``; ``delete_prefix`` refuses
``""``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import BinaryIO, Protocol, runtime_checkable

from voice_store.errors import InvalidBlobKey
from voice_store.models.base import BLOB_KEY_LENGTH

DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_CHUNK_SIZE = 64 * 1024
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*")


def validate_key(key: str) -> str:
    if not isinstance(key, str) or len(key) > BLOB_KEY_LENGTH or not _KEY_PATTERN.fullmatch(key):
        raise InvalidBlobKey(
            f"invalid blob key {key!r}: use '/'-separated segments of letters, digits, '.', '_' and '-' "
            f"(not starting with '.' or '-'), at most {BLOB_KEY_LENGTH} characters"
        )
    return key


def validate_prefix(prefix: str, *, allow_empty: bool) -> str:
    if prefix == "":
        if not allow_empty:
            raise InvalidBlobKey("refusing an empty prefix (it would address every blob)")
        return prefix
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise InvalidBlobKey(f"invalid blob prefix {prefix!r}: a prefix ends with '/'")
    validate_key(prefix[:-1])
    return prefix


@runtime_checkable
class BlobStore(Protocol):
    """Where audio, clone prompts and job outputs live. Every method validates its key first."""

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """Store ``data`` (bytes or a readable binary stream) under ``key``, replacing any blob atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The whole blob; ``BlobNotFound`` if absent."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable binary stream of the blob (``BlobNotFound`` is raised when called, not when read)."""
        ...

    def stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The blob in chunks; the blob is opened (and ``BlobNotFound`` raised) before this returns."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes; ``BlobNotFound`` if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Delete one blob; deleting an absent blob is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix`` (which ends with ``/``); returns how many were deleted."""
        ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` in lexicographic order."""
        ...

    def url_for(
        self, key: str, *, expires_in: timedelta = timedelta(hours=1), download_name: str | None = None
    ) -> str | None:
        """A time-limited download URL (presigned on S3), or None where the store has none (local)."""
        ...
