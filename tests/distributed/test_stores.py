"""The stores distributed settings name: S3 (moto on loopback) with presigned downloads; Postgres."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from common.settings import load_settings
from common.stores import build_blob_store, build_sessions
from tests.fixtures.s3_server import MotoServer
from voice_store.blobs import LocalBlobStore, S3BlobStore


def s3_env(server: MotoServer, bucket: str, **extra: str) -> dict[str, str]:
    return {
        "QWEN_TTS_S3__BUCKET": bucket,
        "QWEN_TTS_S3__ENDPOINT_URL": server.endpoint_url,
        "QWEN_TTS_S3__REGION": server.region,
        "QWEN_TTS_S3__ACCESS_KEY_ID": server.access_key,
        "QWEN_TTS_S3__SECRET_ACCESS_KEY": server.secret_key,
        **extra,
    }


def test_s3_settings_give_an_s3_store_with_working_presigned_downloads(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    store = build_blob_store(load_settings(env=s3_env(moto_server, s3_bucket)))
    assert isinstance(store, S3BlobStore)
    store.put("jobs/job_1/output.wav", b"RIFF-data", content_type="audio/wav")
    url = store.url_for("jobs/job_1/output.wav", expires_in=timedelta(minutes=5))
    assert url is not None and url.startswith(moto_server.endpoint_url)
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"RIFF-data"


def test_the_bucket_is_created_when_asked(moto_server: MotoServer) -> None:
    env = s3_env(moto_server, "created-by-settings", QWEN_TTS_S3__CREATE_BUCKET="true")
    build_blob_store(load_settings(env=env)).put("probe", b"x")
    assert moto_server.client().get_object(Bucket="created-by-settings", Key="probe")["Body"].read() == b"x"


def test_presigned_urls_use_the_public_endpoint(moto_server: MotoServer, s3_bucket: str) -> None:
    env = s3_env(moto_server, s3_bucket, QWEN_TTS_S3__PUBLIC_ENDPOINT_URL="http://localhost:9000")
    url = build_blob_store(load_settings(env=env)).url_for("voices/v1/reference.wav")
    assert url is not None and url.startswith("http://localhost:9000/")


def test_without_a_bucket_blobs_stay_in_the_local_directory(tmp_path: Path) -> None:
    store = build_blob_store(load_settings(env={"QWEN_TTS_BLOB_DIR": str(tmp_path)}))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path.resolve()


def test_postgres_sessions_from_the_database_url(migrated_postgres_url: str) -> None:
    sessions = build_sessions(load_settings(env={"QWEN_TTS_DATABASE_URL": migrated_postgres_url}))
    with sessions() as session:
        assert session.execute(text("select count(*) from alembic_version")).scalar_one() == 1
