"""A distributed Airflow on loopback: the CeleryExecutor, Redis as broker, PostgreSQL, two Celery workers.

Unlike ``airflow standalone`` (one parent process, LocalExecutor), every component runs as its own
process, as on separate machines: ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and
one ``airflow celery worker`` per queue. Each has a process group of its own and a log file in the
temporary ``AIRFLOW_HOME`` (``components/<name>.log``), so :meth:`LocalCeleryAirflow.stop` ends all of
them and a failing test can show what each one said (:meth:`LocalCeleryAirflow.log_tails`).

What still differs from separate machines: the components share this machine's disk, so the API server
reads the workers' task logs as local files; and the workers share one real hostname, so each worker's
task processes report the worker's name as their hostname (:func:`worker_hostname`, Airflow's
``[core] hostname_callable``), which lets a test ask the API which worker ran a try.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from airflow_healer.standalone import PASSWORDS_FILE, LocalAirflow, free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[1]
#: Worker name -> the one queue it listens to: ordinary work on worker A, the healer tasks on worker B.
WORKERS = {"worker-a": "etl", "worker-b": "healer"}
#: The variable through which a worker tells its task processes its name (read by :func:`worker_hostname`).
WORKER_NAME_VARIABLE = "HEALER_CLUSTER_WORKER"
#: The connection the healer tasks use to reach the API server, as a pip user would configure it.
API_CONN_ID = "healer_cluster_api"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


def worker_hostname() -> str:
    """The ``[core] hostname_callable`` of the workers' task processes: their worker's name.

    Both workers run on this one machine, so the real hostname would not say which of them ran a try.
    Outside a worker (no name set) it is the machine's name, as Airflow's default callable gives.
    """
    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


class LocalCeleryAirflow(LocalAirflow):
    """Airflow with the CeleryExecutor, each component a separate process, on 127.0.0.1.

    It reuses :class:`~airflow_healer.standalone.LocalAirflow`'s REST API helpers (``api``, ``trigger``,
    ``wait_for_run``, ``task_tries``) and replaces how it starts and stops.

    :param home: its ``AIRFLOW_HOME`` (created when missing).
    :param dags_folder: the DAGs it runs.
    :param database_url: the metadata database, ``postgresql+psycopg://...`` (also Celery's result backend).
    :param broker_url: Celery's broker, ``redis://host:port/db``.
    :param workers: worker name -> the queue it listens to; one ``airflow celery worker`` each.
    :param concurrency: task processes per worker (``--concurrency``).
    :param parallelism: ``[core] parallelism``: tasks queued or running at once, over all workers.
    :param port: the API server's port; a free one when omitted.
    :param env: extra environment (``AIRFLOW__HEALER__...`` settings, for example).
    """

    def __init__(
        self,
        home: str | Path,
        *,
        dags_folder: str | Path,
        database_url: str,
        broker_url: str,
        workers: Mapping[str, str] = WORKERS,
        concurrency: int = 4,
        parallelism: int = 8,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ):
        home = Path(home).resolve()
        self.admin_password = secrets.token_urlsafe(12)
        port = port or free_port()
        cluster_env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            # Airflow's async engine would be asyncpg's; psycopg 3 does async too and is what is installed.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database_url,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            # Every component must sign and check the same tokens: nothing generates them per process.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # A known password (standalone generates one): the file the simple auth manager reads.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
            # The trigger log server's default port may be taken by another Airflow on this machine.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__HEALER__AIRFLOW_API_CONN_ID": API_CONN_ID,
            f"AIRFLOW_CONN_{API_CONN_ID.upper()}": json.dumps({
                "conn_type": "http", "host": f"http://127.0.0.1:{port}", "login": "admin",
                "password": self.admin_password}),
            **(env or {}),
        }
        super().__init__(home, dags_folder=dags_folder, port=port, env=cluster_env)
        self.workers = dict(workers)
        self.concurrency = concurrency
        self.log_dir = self.home / "components"
        self.log_path = self.log_dir  # what LocalAirflow's timeouts tell to look at
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        #: The session ids of every component started (each is its own session leader): see leftovers().
        self._sessions: set[int] = set()

    # -- lifecycle ----------------------------------------------------------------------

    def _commands(self) -> dict[str, list[str]]:
        airflow = [sys.executable, "-m", "airflow"]
        commands = {
            "api-server": [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            "scheduler": [*airflow, "scheduler"],
            "dag-processor": [*airflow, "dag-processor"],
            # The healer task waits for the run to change in the triggerer (HealerRunTrigger).
            "triggerer": [*airflow, "triggerer"],
        }
        for name, queue in self.workers.items():
            commands[name] = [*airflow, "celery", "worker", "--celery-hostname", self.node(name), "--queues", queue,
                              "--concurrency", str(self.concurrency)]
        return commands

    def _env_of(self, name: str) -> dict[str, str]:
        if name not in self.workers:
            return self.env
        return {
            **self.env,
            WORKER_NAME_VARIABLE: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), self.env.get("PYTHONPATH", "")) if p),
            # Each worker serves its own task logs, on a port of its own (on one machine they would collide).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }

    def node(self, worker: str) -> str:
        """The Celery node name of a worker (``--celery-hostname``), as ``celery inspect`` names it."""
        return f"{worker}@{socket.gethostname()}"

    def start(self, timeout: float = 240.0) -> LocalCeleryAirflow:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        (self.home / PASSWORDS_FILE).write_text(json.dumps({"admin": self.admin_password}))
        try:
            self._run("db-migrate", [sys.executable, "-m", "airflow", "db", "migrate"], timeout=300)
            for name, command in self._commands().items():
                with open(self.log_dir / f"{name}.log", "ab") as log:
                    self.processes[name] = subprocess.Popen(
                        command, env=self._env_of(name), stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, cwd=self.home,
                        start_new_session=True,  # its own process group, so stop() reaches every child
                    )
                self._sessions.add(self.processes[name].pid)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, name: str, command: list[str], timeout: float) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            done = subprocess.run(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=self.home, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(command[3:])} exited with {done.returncode}:\n"
                               f"{self.log_tails([name])}")

    def wait_healthy(self, timeout: float) -> None:
        """Until the API server says every component is healthy and both Celery workers answer a ping."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = self._client.get("/api/v2/monitor/health").json()
                last = health
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    break
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            time.sleep(1)
        else:
            raise TimeoutError(f"Airflow was not healthy after {timeout:.0f}s (last: {last}):\n{self.log_tails()}")
        while time.monotonic() < deadline:
            self._check_alive()
            missing = self.unanswered_workers(min(10.0, max(deadline - time.monotonic(), 1.0)))
            if not missing:
                return
            last = f"no ping answer from {', '.join(missing)}"
        raise TimeoutError(f"Celery workers not ready after {timeout:.0f}s ({last}):\n{self.log_tails()}")

    def unanswered_workers(self, timeout: float = 5.0) -> list[str]:
        """The workers that did not answer ``celery inspect ping`` (the check Airflow's docker-compose uses)."""
        nodes = {name: self.node(name) for name in self.workers}
        try:
            out = subprocess.run(
                [sys.executable, "-m", "celery", "--app", CELERY_APP, "inspect", "ping", "--timeout", "3",
                 "--destination", ",".join(nodes.values())],
                env=self.env, capture_output=True, text=True, timeout=timeout + 60, cwd=self.home).stdout
        except subprocess.TimeoutExpired:
            return list(nodes)
        return [name for name, node in nodes.items() if not re.search(rf"->\s+{re.escape(node)}: OK", out)]

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {process.returncode}:\n{self.log_tails([name])}")

    def stop(self, grace: float = 20.0) -> None:
        """End every component's process group (at once: a Celery worker's warm shutdown takes a while),
        then whatever else still runs in their sessions (task processes have groups of their own)."""
        processes, self.processes = list(self.processes.values()), {}
        if processes:
            with ThreadPoolExecutor(len(processes)) as pool:
                list(pool.map(lambda p: stop_process_group(p, grace), processes))
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._client.close()

    def leftovers(self) -> list[int]:
        """Processes still running in the sessions of the components: none once :meth:`stop` returned.

        Found by session id, not by process group (a task runner takes a group of its own, in its
        worker's session) nor by environment (Celery's ``setproctitle`` overwrites the one /proc shows).
        """
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            state, session = fields[0], int(fields[3])
            if state != "Z" and session in self._sessions:
                found.append(int(entry.name))
        return found

    # -- what a failing test shows --------------------------------------------------------

    def log_path_of(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tails(self, names: list[str] | None = None, lines: int = 40) -> str:
        """The last ``lines`` lines of each component's log (all of them by default), for an assertion message."""
        names = names or sorted(p.stem for p in self.log_dir.glob("*.log"))
        parts = []
        for name in names:
            path = self.log_path_of(name)
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            parts.append(f"----- {name} ({path}) -----\n" + "\n".join(text))
        return "\n".join(parts)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        try:
            return super().wait_for_run(dag_id, run_id, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tails()}") from None
