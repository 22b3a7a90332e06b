"""A hook for Airflow's own public REST API (v2): the only way a task may change another task.

Credentials come from an Airflow connection (``[healer] airflow_api_conn_id``, default
``healer_api``): ``host`` (``http://host:port`` or a bare host with ``port``), ``login`` and
``password``. When the connection does not exist, the hook talks to the local API server
(``[api] base_url``) as ``admin`` with the password the simple auth manager generated, which is
what ``airflow standalone`` uses.
"""

from __future__ import annotations

import collections
import json
import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from airflow.sdk import BaseHook

from airflow_healer.exceptions import AirflowApiError, RunNotFound

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
#: Characters of one log event kept (an exception event carries all its frames).
MAX_LOG_LINE_CHARS = 200_000


class AirflowApiHook(BaseHook):
    """Talk to Airflow's REST API v2 with a bearer token from ``POST /auth/token``.

    :param airflow_api_conn_id: the connection with the API's address and credentials.
    :param timeout: seconds for each HTTP request.
    :param max_tries: tries of a request that meets a server error or a dropped connection.
    :param backoff: seconds before the second try; doubles after each.
    :param transport: an httpx transport to use instead of the network (tests, proxies).
    """

    conn_name_attr = "airflow_api_conn_id"
    default_conn_name = "healer_api"
    conn_type = "http"
    hook_name = "Airflow REST API (healer)"

    def __init__(
        self,
        airflow_api_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        max_tries: int = 6,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__()
        self.max_tries = max_tries
        self.backoff = backoff
        self.airflow_api_conn_id = airflow_api_conn_id
        self.timeout = timeout
        self.transport = transport
        self._token: str | None = None

    # -- connection ---------------------------------------------------------------------

    @cached_property
    def settings(self) -> dict[str, str]:
        """base_url, username and password, from the connection or the local defaults."""
        try:
            conn = self.get_connection(self.airflow_api_conn_id)
        except Exception:  # noqa: BLE001 - AirflowNotFoundException, or no API to ask: use the local default
            conn = None
        return self._settings_from(conn)

    async def async_settings(self) -> dict[str, str]:
        """:attr:`settings` for code running in the triggerer's event loop."""
        try:
            conn = await self.aget_connection(self.airflow_api_conn_id)
        except Exception:  # noqa: BLE001 - as in settings
            conn = None
        return self._settings_from(conn)

    def _settings_from(self, conn: Any) -> dict[str, str]:
        if conn is not None and conn.host:
            host = conn.host.rstrip("/")
            if "://" not in host:
                host = f"{conn.schema or 'http'}://{host}:{conn.port or 8080}"
            elif conn.port and host.count(":") < 2:
                host = f"{host}:{conn.port}"
            return {"base_url": host, "username": conn.login or "admin",
                    "password": conn.password or self._generated_password(conn.login or "admin")}
        return {"base_url": _local_base_url(), "username": "admin", "password": self._generated_password("admin")}

    @staticmethod
    def _generated_password(username: str) -> str:
        from airflow.configuration import conf

        home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
        path = Path(conf.get("core", "simple_auth_manager_passwords_file", fallback="") or home / PASSWORDS_FILE)
        try:
            return json.loads(path.read_text())[username]
        except (OSError, ValueError, KeyError) as exc:
            raise AirflowApiError(
                f"No password for {username!r}: create the Airflow connection 'healer_api' with the API's "
                f"address, login and password (could not read {path}: {exc})."
            ) from exc

    def get_conn(self) -> httpx.Client:
        return self.client

    @cached_property
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.settings["base_url"], timeout=self.timeout, transport=self.transport)

    def _authenticate(self) -> str:
        response = self.client.post(
            "/auth/token", json={"username": self.settings["username"], "password": self.settings["password"]}
        )
        if response.status_code >= 400:
            raise AirflowApiError(
                f"Airflow refused the healer's credentials ({response.status_code}) at "
                f"{self.settings['base_url']}/auth/token: check the login and password of the "
                f"'{self.airflow_api_conn_id}' connection.", response.status_code,
            )
        return response.json()["access_token"]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send an authenticated request.

        Re-authenticates once when the token expired, and retries server errors and dropped
        connections a few times with backoff: on a SQLite or busy metadata database two
        concurrent writes can fail with a 5xx that succeeds a moment later. Every call the
        healer makes is safe to repeat (clearing only touches failed task instances).
        """
        reauthenticated = False
        for attempt in range(1, self.max_tries + 1):
            if self._token is None:
                self._token = self._authenticate()
            try:
                response = self.client.request(
                    method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs
                )
            except httpx.TransportError as exc:
                if attempt < self.max_tries:
                    self.log.warning("%s %s: %s; trying again", method, path, exc)
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise AirflowApiError(f"Airflow's API at {self.settings['base_url']} did not answer: {exc}") from exc
            if response.status_code == 401 and not reauthenticated:
                self._token, reauthenticated = None, True
                continue
            if response.status_code >= 500 and attempt < self.max_tries:
                self.log.warning("%s %s answered %s (%s); trying again", method, path, response.status_code,
                                 _detail(response))
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if response.status_code == 404:
                raise RunNotFound(f"{method} {path}: not found ({_detail(response)})", 404)
            if response.status_code >= 400:
                raise AirflowApiError(
                    f"{method} {path} failed with {response.status_code}: {_detail(response)}", response.status_code
                )
            return response.json() if response.content else None
        raise AirflowApiError(f"{method} {path}: still failing after {self.max_tries} tries")

    # -- the calls the healer makes (the AirflowApi port) ------------------------------------

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        out: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, params={"limit": 100, "offset": len(out)})
            out.extend(page["task_instances"])
            if len(out) >= page["total_entries"] or not page["task_instances"]:
                return out

    def clear(self, dag_id: str, run_id: str, task_ids: list[Any], *, note: str = "",
              reset_dag_runs: bool = False) -> list[dict[str, Any]]:
        """Clear the failed ones of ``task_ids`` in the run (for real: the API's default is a dry run).

        :param reset_dag_runs: set a finished run back to queued, so the scheduler runs what was cleared
            (the watchdog and ``healer_remediate`` act on finished runs; the healer task's run is running).
        """
        body = {
            "dry_run": False,  # the API's default is a dry run
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "only_failed": True,
            "include_upstream": False,
            "include_downstream": False,
            "reset_dag_runs": reset_dag_runs,
            # The healer runs downstream of what it clears: never clear a running task (itself).
            "prevent_running_task": True,
        }
        if note:
            body["note"] = note[:1000]
        result = self.request("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/clearTaskInstances", json=body)
        return result.get("task_instances", [])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1,
                 *, max_events: int = 4_000) -> list[dict[str, Any]]:
        """The structured events of one try's log (local files or remote logging alike), the last
        ``max_events`` of them: the log is streamed as NDJSON and only a bounded tail is kept.

        :raises RunNotFound: no such try (404); :raises AirflowApiError: the log cannot be read.
        """
        path = (f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{quote(task_id, safe='')}/logs/{int(try_number)}")
        params = {"map_index": map_index, "full_content": "true"}
        # Raw lines in a bounded deque, parsed at the end: a 50 MB log costs one pass and ``max_events`` parses.
        tail: collections.deque[str] = collections.deque(maxlen=max_events)
        if self._token is None:
            self._token = self._authenticate()
        try:
            with self.client.stream("GET", path, params=params, headers={
                    "Authorization": f"Bearer {self._token}", "Accept": "application/x-ndjson"}) as response:
                if response.status_code == 401:
                    self._token = None
                    return self.task_log(dag_id, run_id, task_id, try_number, map_index, max_events=max_events)
                if response.status_code == 404:
                    response.read()
                    raise RunNotFound(f"GET {path}: not found ({_detail(response)})", 404)
                if response.status_code >= 400:
                    response.read()
                    raise AirflowApiError(f"GET {path} failed with {response.status_code}: {_detail(response)}",
                                          response.status_code)
                for raw in response.iter_lines():
                    if raw.strip():
                        tail.append(raw[:MAX_LOG_LINE_CHARS])
        except httpx.TransportError as exc:
            raise AirflowApiError(f"Airflow's API at {self.settings['base_url']} did not answer: {exc}") from exc
        events = []
        for raw in tail:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"event": raw}
            events.append(event if isinstance(event, dict) else {"event": str(event)})
        return events

    def failed_task_instances(self, *, since: str, until: str, limit: int = 100, offset: int = 0,
                              inclusive: bool = False) -> dict[str, Any]:
        """One page of the task instances of every DAG that failed after ``since`` (at or after, when
        ``inclusive``), up to ``until``, oldest first: ``{"task_instances": [...], "total_entries": N}``."""
        return self.request("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", params={
            "state": "failed", ("end_date_gte" if inclusive else "end_date_gt"): since, "end_date_lte": until,
            "order_by": "end_date", "limit": limit, "offset": offset})

    def successful_task_instances(self, *, since: str, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent successful task instances since ``since`` (their logs teach boilerplate)."""
        page = self.request("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", params={
            "state": "success", "end_date_gt": since, "order_by": "-end_date", "limit": limit})
        return page["task_instances"]

    def update_connection(self, conn_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set ``fields`` (login, password, host, port, schema, extra) of a connection kept in the metadata
        database; a task's next try reads the new values. Only the named fields change.

        :raises RunNotFound: the connection is not in the metadata database (it comes from an
            environment variable or a secrets backend, which the API cannot change).
        """
        path = f"/api/v2/connections/{quote(conn_id, safe='')}"
        try:
            current = self.request("GET", path)
        except RunNotFound as exc:
            raise RunNotFound(f"The connection {conn_id!r} is not in Airflow's metadata database (it may come "
                              "from an AIRFLOW_CONN_ variable or a secrets backend, which win over it and "
                              "cannot be changed through the API)", 404) from exc
        body = {"connection_id": conn_id, "conn_type": current["conn_type"], **fields}
        params = [("update_mask", name) for name in fields]
        return self.request("PATCH", path, json=body, params=params)

    def respond_hitl(self, dag_id: str, run_id: str, task_id: str, chosen: list[str], map_index: int = -1,
                     ) -> dict[str, Any]:
        """Answer a task's Human-in-the-loop request (Airflow's Required Actions), which resumes it.

        :raises RunNotFound: the task has no such request; :raises AirflowApiError: 409 when it was
            answered already.
        """
        path = (f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{quote(task_id, safe='')}/{int(map_index)}/hitlDetails")
        return self.request("PATCH", path, json={"chosen_options": chosen, "params_input": {}})

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")


def _local_base_url() -> str:
    from airflow.configuration import conf

    url = conf.get("api", "base_url", fallback="") or ""
    if url.startswith("http"):
        return url.rstrip("/")
    host = conf.get("api", "host", fallback="localhost")
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    return f"http://{host}:{conf.get('api', 'port', fallback='8080')}"


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return str(detail)[:500]
