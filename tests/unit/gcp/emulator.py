"""The Pub/Sub emulator of the Google Cloud CLI, started on a free loopback port (tests and bench/).

Found through ``PUBSUB_EMULATOR_BIN``, ``cloud-pubsub-emulator`` on ``PATH``, or beside ``gcloud``
(``<sdk>/platform/pubsub-emulator/bin/``). It runs in its own process group with its own data
directory, and :meth:`PubSubEmulator.stop` ends the group (the launcher script and its JVM).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LAUNCHER = "cloud-pubsub-emulator"


def find_emulator() -> str | None:
    """The emulator's launcher, or None when the Google Cloud CLI (or its emulator component) is absent."""
    named = os.environ.get("PUBSUB_EMULATOR_BIN")
    if named:
        return named if os.access(named, os.X_OK) else None
    on_path = shutil.which(LAUNCHER)
    if on_path:
        return on_path
    gcloud = shutil.which("gcloud")
    if gcloud:
        beside = Path(gcloud).resolve().parent.parent / "platform" / "pubsub-emulator" / "bin" / LAUNCHER
        if os.access(beside, os.X_OK):
            return str(beside)
    return None


def missing() -> str:
    """Why the emulator cannot run here ("" when it can)."""
    if find_emulator() is None:
        return ("the Pub/Sub emulator is not installed (the Google Cloud CLI's cloud-pubsub-emulator; "
                "set PUBSUB_EMULATOR_BIN to its launcher)")
    if shutil.which("java") is None:
        return "java is not installed: the Pub/Sub emulator needs Java 17"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PubSubEmulator:
    """One emulator process.

    :param port: where it listens (a free port when omitted).
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def start(self, wait: float = 60.0) -> PubSubEmulator:
        launcher = find_emulator()
        if launcher is None:
            raise RuntimeError(missing())
        self._dir = tempfile.TemporaryDirectory(prefix="pubsub-emulator-")
        log = open(Path(self._dir.name) / "emulator.log", "wb")  # noqa: SIM115 - the process holds it
        self._process = subprocess.Popen(
            [launcher, "--host=127.0.0.1", f"--port={self.port}", f"--dir={self._dir.name}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Pub/Sub emulator exited with {self._process.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Pub/Sub emulator did not listen on {self.host} within {wait:g}s")

    def log(self) -> str:
        path = Path(self._dir.name) / "emulator.log" if self._dir else None
        return path.read_text(errors="replace")[-2000:] if path and path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self._process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._process.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> PubSubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
