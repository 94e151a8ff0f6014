"""Settings → the stores both kinds of process open: the database sessions and the blob store.

Shared by the API's composition root and the distributed workers (which must not import the web layer).
Neither upgrades the schema: the embedded start and ``qwen3-tts db upgrade`` (run once per deploy) do that.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from common.settings import Settings
from voice_store.blobs import BlobStore, LocalBlobStore


def build_blob_store(settings: Settings) -> BlobStore:
    """S3 (or MinIO) when ``s3.bucket`` is set, else the local blob directory."""
    s3 = settings.s3
    if not s3.bucket:
        return LocalBlobStore(settings.resolved_blob_dir)
    from voice_store.blobs.s3 import S3BlobStore

    secret = s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
    return S3BlobStore(
        bucket=s3.bucket,
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        access_key=s3.access_key_id,
        secret_key=secret,
        public_endpoint_url=s3.public_endpoint_url,
        create_bucket=s3.create_bucket,
    )


def build_sessions(settings: Settings) -> sessionmaker[Session]:
    from voice_store.db import create_db_engine, create_session_factory

    return create_session_factory(create_db_engine(settings.resolved_database_url))
