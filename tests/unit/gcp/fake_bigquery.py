"""BigQuery's REST API, answered in memory: the real ``google.cloud.bigquery.Client`` over a fake HTTP session.

Only the HTTP boundary is replaced, so the client builds every request (URL, JSON body, retries) as it does
against BigQuery, and parses the answers as it would. The session records each request, keeps datasets and
tables as their resources, keeps inserted rows (deduplicating on insertId, as BigQuery does best-effort),
and answers a query with the rows a test gave for it. Failures are scripted per route.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

API = "/bigquery/v2"


@dataclass
class Request:
    method: str
    path: str  # after /bigquery/v2
    params: dict[str, list[str]]
    body: Any

    @property
    def route(self) -> str:
        """``insertAll``, ``tables.insert``, ``jobs.insert``... what BigQuery calls the method."""
        parts = self.path.strip("/").split("/")
        if parts[-1] == "insertAll":
            return "insertAll"
        if "queries" in parts:
            return "getQueryResults"
        if "jobs" in parts:
            return "jobs.insert" if self.method == "POST" else "jobs.get"
        kind = "tables" if "tables" in parts else "datasets"
        named = parts[-1] != kind
        return {("POST", False): f"{kind}.insert", ("GET", True): f"{kind}.get",
                ("PATCH", True): f"{kind}.patch", ("PUT", True): f"{kind}.update"}.get((self.method, named), "?")


@dataclass
class Answer:
    match: str
    fields: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]
    used: int = 0


class FakeBigQuery(requests.Session):
    """One fake BigQuery project; ``client()`` is a real client that talks to it."""

    is_mtls = False  # what google.cloud's connection asks of its session

    def __init__(self, project: str = "healer-test"):
        super().__init__()
        self.project = project
        self.requests: list[Request] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, Any]] = {}  # "dataset.table" -> resource
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}  # table -> insertId -> row
        self.answers: list[Answer] = []
        #: route -> scripted outcomes, one per call: a status code, an exception to raise, or callable(body) -> answer.
        self.script: dict[str, list[Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def client(self, **kwargs: Any) -> bigquery.Client:
        return bigquery.Client(project=self.project, credentials=AnonymousCredentials(), _http=self, **kwargs)

    # -- what a test asks of it ---------------------------------------------------------------

    def fail(self, route: str, *outcomes: Any) -> None:
        """The next calls of ``route`` answer these (a status code, an exception to raise, or a callable)."""
        self.script.setdefault(route, []).extend(outcomes)

    def answer(self, match: str, fields: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        """Answer a query whose SQL contains ``match`` with ``rows`` of ``fields`` (name, type)."""
        self.answers.append(Answer(match, fields, rows))

    def calls(self, route: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def inserts(self, table: str) -> list[Request]:
        return [r for r in self.calls("insertAll") if r.path.split("/")[-2] == table]

    def table_rows(self, table: str) -> list[dict[str, Any]]:
        """What the table holds (one row per insertId), in insertion order."""
        with self._lock:
            return list(self.rows.get(table, {}).values())

    def queries(self) -> list[dict[str, Any]]:
        """The ``configuration.query`` of every job inserted."""
        return [r.body["configuration"]["query"] for r in self.calls("jobs.insert")]

    # -- the HTTP boundary -------------------------------------------------------------------------

    def request(self, method: str, url: str, data: Any = None, headers: Any = None, timeout: Any = None,
                **kwargs: Any) -> requests.Response:
        parts = urlsplit(url)
        assert parts.path.startswith(API), url
        body = json.loads(data) if data else None
        call = Request(method, parts.path[len(API):], parse_qs(parts.query), body)
        with self._lock:
            self.requests.append(call)
            scripted = self.script.get(call.route)
            outcome = scripted.pop(0) if scripted else None
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, int):
            return _response(method, url, outcome, _error(outcome, f"scripted {outcome}"))
        if callable(outcome):
            return _response(method, url, 200, outcome(body))
        with self._lock:
            status, answer = self._route(call)
        return _response(method, url, status, answer)

    def _route(self, call: Request) -> tuple[int, dict[str, Any]]:
        parts = call.path.strip("/").split("/")  # projects/P/datasets/D/tables/T/insertAll ...
        route = call.route
        if route == "datasets.insert":
            name = call.body["datasetReference"]["datasetId"]
            if name in self.datasets:
                return 409, _error(409, f"Already Exists: Dataset {self.project}:{name}", "duplicate")
            self.datasets[name] = {**call.body, "id": f"{self.project}:{name}", "etag": uuid.uuid4().hex}
            return 200, self.datasets[name]
        if route == "datasets.get":
            found = self.datasets.get(parts[3])
            return (200, found) if found else (404, _error(404, f"Not found: Dataset {parts[3]}", "notFound"))
        if route == "tables.insert":
            ref = call.body["tableReference"]
            key = f"{ref['datasetId']}.{ref['tableId']}"
            if ref["datasetId"] not in self.datasets:
                return 404, _error(404, f"Not found: Dataset {ref['datasetId']}", "notFound")
            if key in self.tables:
                return 409, _error(409, f"Already Exists: Table {self.project}:{key}", "duplicate")
            self.tables[key] = {**call.body, "id": f"{self.project}:{key}", "etag": uuid.uuid4().hex,
                                "creationTime": "1764680000000", "type": "TABLE"}
            return 200, self.tables[key]
        if route in ("tables.get", "tables.patch", "tables.update"):
            key = f"{parts[3]}.{parts[5]}"
            if key not in self.tables:
                return 404, _error(404, f"Not found: Table {self.project}:{key}", "notFound")
            if route != "tables.get":
                self.tables[key] = {**self.tables[key], **call.body, "etag": uuid.uuid4().hex}
            return 200, self.tables[key]
        if route == "insertAll":
            key = f"{parts[3]}.{parts[5]}"
            if key not in self.tables:
                return 404, _error(404, f"Not found: Table {self.project}:{key}", "notFound")
            kept = self.rows.setdefault(parts[5], {})
            for row in call.body["rows"]:
                kept.setdefault(row["insertId"], row["json"])
            return 200, {"kind": "bigquery#tableDataInsertAllResponse"}
        if route == "jobs.insert":
            ref = {**call.body["jobReference"], "location": call.body["jobReference"].get("location", "US")}
            job = {**call.body, "jobReference": ref, "id": f"{self.project}:{ref['location']}.{ref['jobId']}",
                   "status": {"state": "DONE"}}
            self.jobs[ref["jobId"]] = job
            return 200, job
        if route == "jobs.get":
            return 200, self.jobs[parts[-1]]
        if route == "getQueryResults":
            job = self.jobs[parts[-1]]
            return self._results(job, first=call.params.get("maxResults") == ["0"])
        return 400, _error(400, f"the fake does not answer {call.method} {call.path}", "invalid")

    def _results(self, job: dict[str, Any], first: bool) -> tuple[int, dict[str, Any]]:
        sql = job["configuration"]["query"]["query"]
        found = [a for a in self.answers if a.match in sql]
        if not found:
            return 400, _error(400, f"the test gave no answer for the query {sql[:200]!r}", "invalidQuery")
        answer = found[0]
        answer.used += 1
        out = {"jobReference": job["jobReference"], "jobComplete": True, "totalRows": str(len(answer.rows)),
               "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in answer.fields]}}
        if not first:  # the client asks maxResults=0 first, then the rows
            out["rows"] = [{"f": [{"v": None if v is None else str(v)} for v in row]} for row in answer.rows]
        return 200, out


def _error(code: int, message: str, reason: str = "backendError") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"reason": reason, "message": message}]}}


def _response(method: str, url: str, status: int, body: dict[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    response._content = json.dumps(body).encode("utf-8")
    prepared = requests.PreparedRequest()
    prepared.prepare(method=method, url=url)
    response.request = prepared
    response.url = url
    return response


def insert_errors(*per_row: tuple[int, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An insertAll answer that reports ``(index, reason)`` errors and keeps no row (BigQuery's behaviour
    without skipInvalidRows: one invalid row stops the whole request)."""
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return {"insertErrors": [{"index": i, "errors": [{"reason": reason, "message": f"row {i}: {reason}",
                                                          "location": "message" if reason == "invalid" else ""}]}
                                 for i, reason in per_row]}
    return answer
