"""Blob storage: the ``BlobStore`` port and its two adapters.

::

    from voice_store.blobs import BlobStore, LocalBlobStore, S3BlobStore

    store: BlobStore = LocalBlobStore("/var/lib/qwen3-tts/blobs")                # embedded
    store = S3BlobStore(bucket="tts", endpoint_url="http://minio:9000", region="us-east-1",
                        access_key="...", secret_key="...", create_bucket=True)   # distributed
    store.put("voices/voice_x/v1/reference.wav", wav_bytes, content_type="audio/wav")
    url = store.url_for("jobs/job_x/output.mp3", expires_in=timedelta(minutes=10))  # None on LocalBlobStore

``S3BlobStore`` is imported lazily, so the embedded mode works without boto3 installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voice_store.blobs.local import LocalBlobStore
from voice_store.blobs.port import BlobStore, validate_key, validate_prefix

if TYPE_CHECKING:
    from voice_store.blobs.s3 import S3BlobStore

__all__ = ["BlobStore", "LocalBlobStore", "S3BlobStore", "validate_key", "validate_prefix"]


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from voice_store.blobs.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
