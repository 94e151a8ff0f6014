"""Private Redis and Postgres servers for the fault tests: their own data directories and loopback ports, so a
test may stop, kill and restart them without touching the shared servers on 6379/5432.

Postgres refuses to run as root: when the tests run as root, the cluster belongs to the ``postgres`` system
user (created once if missing) and its commands run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.fixtures.net import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/local/bin"))
START_TIMEOUT_S = 30.0


def _wait_for_port(port: int, *, up: bool, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            is_up = s.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} within {timeout_s:g} s")


class PrivateRedis:
    """``persistent``: an append-only file (fsync always), so a restart keeps the queues; else nothing."""

    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self._persistent else []
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self._directory)]
        args += ["--save", "", *persistence, "--loglevel", "warning"]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, up=True)

    def kill(self) -> None:
        """SIGKILL (a crash: nothing is saved but what the append-only file already holds)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None
        _wait_for_port(self.port, up=False)

    def restart(self, *, down_s: float = 0.5) -> None:
        self.kill()
        time.sleep(down_s)
        self.start()


@contextlib.contextmanager
def private_redis(*, persistent: bool) -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="qtts-faults-redis-") as directory:
        server = PrivateRedis(Path(directory), persistent=persistent)
        server.start()
        try:
            yield server
        finally:
            server.kill()


class PrivatePostgres:
    """A throwaway cluster (trust auth on loopback); ``stop``/``start`` are a real server restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self._data = directory / "data"
        self._log = directory / "server.log"
        self._as_root = os.geteuid() == 0
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def init(self) -> None:
        if self._as_root:
            _ensure_postgres_user()
            os.chown(self._data.parent, pwd.getpwnam("postgres").pw_uid, -1)
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "start")
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        """A fast shutdown: open connections are closed, as in a restart or a failover."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")
        _wait_for_port(self.port, up=False)


def _ensure_postgres_user() -> None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="qtts-faults-pg-") as directory:
        os.chmod(directory, 0o755)
        server = PrivatePostgres(Path(directory))
        server.init()
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError, TimeoutError):
                server.stop()
