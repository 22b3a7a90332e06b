"""Real servers for the tests, on loopback, in temporary folders: PostgreSQL and Redis.

PostgreSQL's ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres``
user (``runuser``). Both servers are found on PATH or where Debian installs them
(``scripts/bootstrap.sh`` installs the packages when they are missing).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, postgres), newest version first, or None."""
    found = shutil.which("initdb")
    if found:  # Debian links some of them into /usr/local/bin: the real folder has psql and the rest
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(Path(folder) / "initdb", os.X_OK):
            return Path(folder)
    return None


class LocalPostgres:
    """A PostgreSQL cluster of its own: ``with LocalPostgres() as pg: pg.url("healer")``.

    Trust authentication on 127.0.0.1 only, fsync off (a test cluster is thrown away), a free port.
    """

    def __init__(self, *, max_connections: int = 200):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server programs are missing: apt-get install postgresql "
                               "(scripts/bootstrap.sh does it)")
        self.port = free_port()
        self.max_connections = max_connections
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def _as_owner(self, *command: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else list(command)

    def start(self) -> LocalPostgres:
        self.dir = Path(tempfile.mkdtemp(prefix="healer-pg-"))
        data, log = self.dir / "data", self.dir / "server.log"
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(self._as_owner(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                      "-E", "UTF8", "--no-locale"), check=True, capture_output=True)
        with open(log, "wb") as out:
            if os.getuid() == 0:
                shutil.chown(log, "postgres", "postgres")
            self.process = subprocess.Popen(
                self._as_owner(str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
                               "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                               "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                               "-c", f"max_connections={self.max_connections}"),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self.process, "postgres", log)
        # Listening is not yet accepting: wait until a query runs.
        deadline = time.monotonic() + 30
        while self.psql("SELECT 1", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres does not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def psql(self, sql: str, database: str = "postgres", *, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                              capture_output=True, text=True, check=check)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # postgres' "smart" shutdown is SIGTERM; "fast" is SIGINT
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalRedis:
    """A Redis server of its own on a free loopback port, nothing saved to disk."""

    def __init__(self):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("redis-server is missing: apt-get install redis-server (scripts/bootstrap.sh does it)")
        self.port = free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        self.dir = Path(tempfile.mkdtemp(prefix="healer-redis-"))
        log = self.dir / "server.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self.process, "redis-server", log)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
