"""``LocalBlobStore``: blobs as files under a root directory (embedded mode).

Writes go to a temporary file in the destination directory, are fsynced and then renamed over the target, so a
reader sees the old blob or the new one, never a torn one. Besides the key rules (``port.validate_key``),
every resolved path is checked to stay inside the root, so a symlink planted inside the root cannot redirect a
key outside it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, cast

from voice_store.blobs.port import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    validate_key,
    validate_prefix,
)
from voice_store.errors import BlobNotFound, InvalidBlobKey

_TEMP_PREFIX = ".tmp-"


class LocalBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        if not path.resolve().is_relative_to(self.root):
            raise InvalidBlobKey(f"blob key {key!r} resolves outside the store")
        return path

    def _dir(self, prefix: str, *, allow_empty: bool) -> Path:
        validate_prefix(prefix, allow_empty=allow_empty)
        return self._path(prefix[:-1]) if prefix else self.root

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as temp:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    temp.write(data)
                else:
                    shutil.copyfileobj(data, temp, DEFAULT_CHUNK_SIZE)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        with self.open(key) as file:
            return file.read()

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        path = self._path(key)
        try:
            return cast(BinaryIO, path.open("rb"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise BlobNotFound(key) from e

    def stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        file = self.open(key)
        return _chunks(cast(BinaryIO, file), chunk_size)

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)
            self._prune_empty_parents(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        directory = self._dir(prefix, allow_empty=False)
        if not directory.is_dir():
            return 0
        count = sum(1 for path in directory.rglob("*") if path.is_file() and not _is_temp(path))
        shutil.rmtree(directory)
        self._prune_empty_parents(directory.parent)
        return count

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        directory = self._dir(prefix, allow_empty=True)
        if not directory.is_dir():
            return iter(())
        keys = (
            path.relative_to(self.root).as_posix()
            for path in directory.rglob("*")
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(self.root).parts)
        )
        return iter(sorted(keys))

    def url_for(
        self, key: str, *, expires_in: timedelta = timedelta(hours=1), download_name: str | None = None
    ) -> str | None:
        validate_key(key)
        return None

    def _prune_empty_parents(self, directory: Path) -> None:
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:  # not empty (or already gone/raced): stop climbing
                return
            directory = directory.parent


def _is_temp(path: Path) -> bool:
    return path.name.startswith(_TEMP_PREFIX)


def _chunks(file: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with file:
        while chunk := file.read(chunk_size):
            yield chunk
