"""The shared service fixtures clean up after themselves (other suites rely on them)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, text

from tests.fixtures.postgres import admin_url, check_reachable, temporary_database
from tests.fixtures.redis_keys import isolated_prefix, redis_url  # noqa: F401
from tests.fixtures.s3_server import run_moto_server


def _database_exists(name: str) -> bool:
    engine = create_engine(admin_url())
    try:
        with engine.connect() as connection:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            return connection.execute(query, {"name": name}).first() is not None
    finally:
        engine.dispose()


def test_temporary_database_is_dropped_even_with_open_connections() -> None:
    check_reachable(admin_url())
    with temporary_database(admin_url(), prefix="qtts_fixture") as url:
        name = url.rsplit("/", 1)[1]
        assert _database_exists(name)
        leaked = create_engine(url).connect()  # a connection the test forgot to close
    assert not _database_exists(name)
    leaked.invalidate()


def test_moto_server_serves_s3_and_stops() -> None:
    with run_moto_server() as server:
        client = server.client()
        client.create_bucket(Bucket="fixture-check")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["fixture-check"]
        host, port = server.endpoint_url.removeprefix("http://").split(":")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://{host}:{port}/moto-api/", timeout=2)
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0


def test_redis_prefix_keys_are_deleted_and_others_kept(redis_url: str) -> None:  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_url)
    outside = f"fixture-check-outside:{id(client)}"
    try:
        client.set(outside, "keep")
        with isolated_prefix(redis_url) as prefix:
            for i in range(1200):  # more than one SCAN batch
                client.set(f"{prefix}{i}", i)
            client.xadd(f"{prefix}stream", {"seq": 0})
        assert list(client.scan_iter(match=f"{prefix}*")) == []
        assert client.get(outside) == b"keep"
    finally:
        client.delete(outside)
        client.close()
