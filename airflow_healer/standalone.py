"""Run a real, local Airflow (``airflow standalone``) for the demo and the integration tests.

It gets an ``AIRFLOW_HOME`` of its own, a port on loopback, this project's DAGs and plugin, and a
process group of its own, so that :meth:`LocalAirflow.stop` ends every process it started
(standalone's children outlive a plain kill of the parent).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
UNFINISHED_RUN = {"queued", "running"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalAirflow:
    """An ``airflow standalone`` on 127.0.0.1.

    :param home: its ``AIRFLOW_HOME`` (created when missing).
    :param dags_folder: the DAGs it runs.
    :param plugins_folder: its plugins folder (the pip-installed package registers the plugin too).
    :param port: the API server's port; a free one when omitted.
    :param env: extra environment (``AIRFLOW__HEALER__...`` settings, for example).
    """

    def __init__(
        self,
        home: str | Path,
        *,
        dags_folder: str | Path,
        plugins_folder: str | Path | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.home = Path(home).resolve()
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "standalone.log"
        # An isolated Airflow: nothing of the caller's Airflow settings leaks in.
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "AIRFLOW_CONFIG"}
        self.env = {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).resolve()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **({"AIRFLOW__CORE__PLUGINS_FOLDER": str(Path(plugins_folder).resolve())} if plugins_folder else {}),
            **(env or {}),
        }
        # standalone starts its components as `airflow ...` from PATH: put this interpreter's first.
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.env.get("PATH", "")])
        self.process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self._client = httpx.Client(base_url=self.base_url, timeout=30)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 240.0) -> LocalAirflow:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() reaches every child
        )
        log.close()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}; see {self.log_path}")
            try:
                health = self._client.get("/api/v2/monitor/health").json()
                last = health
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    if (self.home / PASSWORDS_FILE).exists():
                        return
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise TimeoutError(f"Airflow was not healthy after {timeout:.0f}s (last: {last}); see {self.log_path}")

    def stop(self, grace: float = 20.0) -> None:
        if self.process is None:
            return
        stop_process_group(self.process, grace)
        self.process = None
        self._client.close()

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the REST API ----------------------------------------------------------------------

    @property
    def password(self) -> str:
        return json.loads((self.home / PASSWORDS_FILE).read_text())["admin"]

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            response = self._client.post("/auth/token", json={"username": "admin", "password": self.password})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        response = self._client.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                return
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} was not parsed within {timeout:.0f}s; see {self.log_path}")

    def trigger(self, dag_id: str) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            state = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]
            if state not in UNFINISHED_RUN:
                return state
            time.sleep(1)
        raise TimeoutError(f"Run {dag_id}/{run_id} still {state} after {timeout:.0f}s; see {self.log_path}")

    def task_tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task in one run, oldest first: dicts with try_number and state."""
        run = quote(run_id, safe="")
        tries = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/tries")
        return sorted(tries["task_instances"], key=lambda t: t["try_number"])


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """End ``process`` and everything in its process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    The process must have been started with ``start_new_session=True``: Airflow's components start
    children (gunicorn/uvicorn workers, Celery's pool, task supervisors) that outlive a plain kill of
    the parent.
    """
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        pgid = None
    if pgid is not None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            # Reap our own child as it exits: a zombie parent still counts as a group member.
            while process.poll() is None or _group_alive(pgid):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if not _group_alive(pgid):
                break
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
