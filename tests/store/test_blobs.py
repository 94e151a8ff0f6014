"""BlobStore contract: the same tests run on LocalBlobStore and on S3BlobStore (moto server on loopback)."""

from __future__ import annotations

import io
import os
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fixtures.s3_server import MotoServer
from voice_store.blobs import BlobStore, LocalBlobStore, S3BlobStore
from voice_store.errors import BlobNotFound, InvalidBlobKey, InvalidInputError


def test_put_get_roundtrip_bytes_and_stream(blob_store: BlobStore) -> None:
    blob_store.put("voices/v1/reference.wav", b"RIFF-bytes", content_type="audio/wav")
    big = os.urandom(300_000)
    blob_store.put("jobs/j1/out.mp3", io.BytesIO(big), content_type="audio/mpeg")

    assert blob_store.get("voices/v1/reference.wav") == b"RIFF-bytes"
    assert blob_store.get("jobs/j1/out.mp3") == big
    assert blob_store.size("jobs/j1/out.mp3") == len(big)
    assert b"".join(blob_store.stream("jobs/j1/out.mp3", chunk_size=65536)) == big
    with blob_store.open("jobs/j1/out.mp3") as file:
        assert file.read(10) == big[:10]


def test_put_replaces_existing_blob(blob_store: BlobStore) -> None:
    blob_store.put("a/b", b"old")
    blob_store.put("a/b", b"new")
    assert blob_store.get("a/b") == b"new"


def test_missing_blob_raises_not_found_eagerly(blob_store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        blob_store.get("nope/missing")
    with pytest.raises(BlobNotFound):
        blob_store.stream("nope/missing")  # raised at call time, before any iteration
    with pytest.raises(BlobNotFound):
        blob_store.open("nope/missing")
    with pytest.raises(BlobNotFound):
        blob_store.size("nope/missing")
    assert not blob_store.exists("nope/missing")


def test_delete_is_idempotent(blob_store: BlobStore) -> None:
    blob_store.put("x/y.bin", b"1")
    assert blob_store.exists("x/y.bin")
    blob_store.delete("x/y.bin")
    assert not blob_store.exists("x/y.bin")
    blob_store.delete("x/y.bin")


def test_delete_prefix_removes_only_that_directory(blob_store: BlobStore) -> None:
    for key in ("voices/a/v1/ref.wav", "voices/a/v2/ref.wav", "voices/a/prompt.bin", "voices/ab/ref.wav"):
        blob_store.put(key, key.encode())
    assert blob_store.delete_prefix("voices/a/") == 3
    assert list(blob_store.list_keys("voices/")) == ["voices/ab/ref.wav"]
    assert blob_store.delete_prefix("voices/a/") == 0


def test_list_keys_sorted_under_prefix(blob_store: BlobStore) -> None:
    for key in ("b/2", "b/1", "a/1", "b/c/3"):
        blob_store.put(key, b"")
    assert list(blob_store.list_keys("b/")) == ["b/1", "b/2", "b/c/3"]
    assert list(blob_store.list_keys()) == ["a/1", "b/1", "b/2", "b/c/3"]
    assert list(blob_store.list_keys("zzz/")) == []


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/./b",
    "a//b",
    "a/",
    ".hidden",
    "a/.tmp-x",
    "-flag",
    "a\\b",
    "a/b\x00c",
    "ü/umlaut",
    "k" * 513,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_by_every_method(blob_store: BlobStore, key: str) -> None:
    calls = [
        lambda: blob_store.put(key, b"x"),
        lambda: blob_store.get(key),
        lambda: blob_store.open(key),
        lambda: blob_store.stream(key),
        lambda: blob_store.exists(key),
        lambda: blob_store.size(key),
        lambda: blob_store.delete(key),
        lambda: blob_store.url_for(key),
    ]
    for call in calls:
        with pytest.raises(InvalidBlobKey):
            call()


@pytest.mark.parametrize("prefix", ["", "voices", "/voices/", "../", "a//"])
def test_delete_prefix_refuses_empty_or_malformed_prefix(blob_store: BlobStore, prefix: str) -> None:
    blob_store.put("voices/keep", b"1")
    with pytest.raises(InvalidBlobKey):
        blob_store.delete_prefix(prefix)
    assert blob_store.exists("voices/keep")


def test_local_store_has_no_url_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a/b.wav", io.BytesIO(b"data"))
    assert store.url_for("a/b.wav") is None
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.wav"]


def test_local_failed_write_keeps_old_blob_and_no_temp_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a/b", b"old")

    class Exploding(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.put("a/b", Exploding())
    assert store.get("a/b") == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


def test_local_symlink_escape_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = LocalBlobStore(tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(outside)
    with pytest.raises(InvalidBlobKey):
        store.get("link/secret")
    with pytest.raises(InvalidBlobKey):
        store.put("link/new", b"x")
    assert not (outside / "new").exists()


def test_local_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("voices/v1/a/b.bin", b"x")
    store.delete("voices/v1/a/b.bin")
    assert list(tmp_path.iterdir()) == []


def _s3_store(server: MotoServer, bucket: str, **kwargs: object) -> S3BlobStore:
    return S3BlobStore(
        bucket=bucket,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        **kwargs,  # type: ignore[arg-type]
    )


def test_s3_presigned_url_downloads_over_http(moto_server: MotoServer, s3_bucket: str) -> None:
    store = _s3_store(moto_server, s3_bucket)
    store.put("jobs/j1/book.mp3", b"ID3-audio", content_type="audio/mpeg")
    url = store.url_for("jobs/j1/book.mp3", expires_in=timedelta(minutes=5), download_name="book.mp3")
    assert url is not None and url.startswith(moto_server.endpoint_url)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"ID3-audio"
        assert response.headers["Content-Type"] == "audio/mpeg"
    # moto ignores response-content-disposition; check that it is signed into the URL (AWS/MinIO honour it).
    assert "response-content-disposition=attachment%3B%20filename%3D%22book.mp3%22" in url


def test_s3_presign_lifetime_is_bounded(moto_server: MotoServer, s3_bucket: str) -> None:
    store = _s3_store(moto_server, s3_bucket)
    with pytest.raises(InvalidInputError):
        store.url_for("a/b", expires_in=timedelta(days=8))


def test_s3_create_bucket_creates_missing_bucket(moto_server: MotoServer) -> None:
    store = _s3_store(moto_server, "fresh-bucket-created-by-store", create_bucket=True)
    store.put("k", b"v")
    assert store.get("k") == b"v"
    _s3_store(moto_server, "fresh-bucket-created-by-store", create_bucket=True)  # existing: no error


def test_s3_missing_bucket_is_a_store_error_not_a_crash(moto_server: MotoServer) -> None:
    from voice_store.errors import BlobStoreError

    store = _s3_store(moto_server, "bucket-that-does-not-exist")
    with pytest.raises(BlobStoreError) as raised:
        store.put("k", b"v")
    assert raised.value.__cause__ is not None
