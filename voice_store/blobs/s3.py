"""``S3BlobStore``: blobs in an S3 bucket through boto3 (AWS, MinIO, moto, any S3 API).

``endpoint_url`` selects a non-AWS service (path-style addressing is then used); ``public_endpoint_url``, when
the address clients reach differs from the one the server uses (``http://minio:9000`` inside compose vs
``http://localhost:9000`` outside), is the host presigned URLs are signed for. ``create_bucket=True`` creates
a missing bucket at construction. Failures other than a missing object raise ``BlobStoreError`` with the boto
error chained.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from voice_store.blobs.port import DEFAULT_CHUNK_SIZE, DEFAULT_CONTENT_TYPE, validate_key, validate_prefix
from voice_store.errors import BlobNotFound, BlobStoreError, InvalidInputError

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_MAX_PRESIGN = timedelta(days=7)  # the SigV4 limit
_DELETE_BATCH = 1000  # the DeleteObjects limit


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        public_endpoint_url: str | None = None,
        create_bucket: bool = False,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        if not bucket:
            raise InvalidInputError("S3 bucket name must not be empty")
        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        session = boto3.session.Session()
        self._client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config, **credentials
        )
        self._presign_client = (
            session.client(
                "s3", endpoint_url=public_endpoint_url, region_name=region, config=config, **credentials
            )
            if public_endpoint_url
            else self._client
        )
        self._region = region
        if create_bucket:
            self.ensure_bucket()

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, endpoint={self._client.meta.endpoint_url!r})"

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _error_code(e) not in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                raise BlobStoreError(f"cannot reach S3 bucket {self.bucket!r}: {e}") from e
        except BotoCoreError as e:
            raise BlobStoreError(f"cannot reach S3 bucket {self.bucket!r}: {e}") from e
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        with self._errors():
            try:
                self._client.create_bucket(**arguments)
            except ClientError as e:
                if _error_code(e) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        validate_key(key)
        with self._errors(key):
            if isinstance(data, (bytes, bytearray, memoryview)):
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(data), ContentType=content_type
                )
            else:  # managed transfer: multipart for large streams
                self._client.upload_fileobj(data, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def get(self, key: str) -> bytes:
        with self.open(key) as body, self._errors(key):
            return body.read()

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        body = self._get_body(key)

        @contextmanager
        def _opened() -> Iterator[BinaryIO]:
            try:
                yield cast(BinaryIO, body)
            finally:
                body.close()

        return _opened()

    def stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        body = self._get_body(key)

        def _chunks() -> Iterator[bytes]:
            try:
                with self._errors(key):
                    yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

        return _chunks()

    def size(self, key: str) -> int:
        validate_key(key)
        with self._errors(key):
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix, allow_empty=False)
        keys = list(self.list_keys(prefix))
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with self._errors(prefix):
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise BlobStoreError(
                    f"could not delete {len(response['Errors'])} blobs under {prefix!r}, "
                    f"e.g. {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix, allow_empty=True)
        paginator = self._client.get_paginator("list_objects_v2")
        keys: list[str] = []
        with self._errors(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        return iter(sorted(keys))

    def url_for(
        self, key: str, *, expires_in: timedelta = timedelta(hours=1), download_name: str | None = None
    ) -> str | None:
        validate_key(key)
        if not timedelta(seconds=1) <= expires_in <= _MAX_PRESIGN:
            raise InvalidInputError("presigned URL lifetime must be between 1 second and 7 days")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if download_name is not None:
            safe_name = download_name.replace('"', "").replace("\r", "").replace("\n", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe_name}"'
        with self._errors(key):
            return str(
                self._presign_client.generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=int(expires_in.total_seconds())
                )
            )

    def _get_body(self, key: str) -> Any:
        validate_key(key)
        with self._errors(key):
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"]

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Map boto errors: a missing object → ``BlobNotFound``; anything else → ``BlobStoreError``."""
        try:
            yield
        except ClientError as e:
            if key is not None and _error_code(e) in _NOT_FOUND_CODES:
                raise BlobNotFound(key) from e
            raise BlobStoreError(f"S3 request on bucket {self.bucket!r} failed: {e}") from e
        except BotoCoreError as e:
            raise BlobStoreError(f"S3 request on bucket {self.bucket!r} failed: {e}") from e


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
