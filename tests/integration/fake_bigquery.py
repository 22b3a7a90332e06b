"""A BigQuery REST API on loopback, for the real google-cloud-bigquery client (``BIGQUERY_EMULATOR_HOST``):
``jobs.get``, ``jobs.insert`` and ``jobs.list`` over jobs a test scripts. Google's API cannot run here;
this answers at the client's HTTP boundary, with the API's own resource shapes, and keeps every request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.loopback import JsonHandler

JOB = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs(?:/(?P<job>[^/?]+))?$")


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


class FakeBigQuery:
    """Jobs by id; each a list of states it goes through, one per ``jobs.get``, the last one for good.

    ``script(job_id, ["RUNNING", "RUNNING", ("DONE", error)])``: ``error`` is an ``errorResult`` dict or None.
    A job the client inserts runs ``inserted_script`` (default: RUNNING once, then DONE with no error).
    """

    def __init__(self, project: str = "it-project", location: str = "US"):
        self.project, self.location = project, location
        self.jobs: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.inserted_script: list[Any] = ["RUNNING", ("DONE", None)]
        self._lock = threading.Lock()
        outer = self

        class Handler(JsonHandler):

            def do_GET(self) -> None:  # noqa: N802
                status, body = outer._get(self.path)
                self.send_json(status, body)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = outer._insert(self.path, json.loads(raw or b"{}"))
                self.send_json(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBigQuery:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- jobs ------------------------------------------------------------------------------------------

    def script(self, job_id: str, states: list[Any], *, query: str = "SELECT 1", labels: dict[str, str] | None = None,
               ) -> None:
        now = time.time()
        with self._lock:
            self.jobs[job_id] = {
                "kind": "bigquery#job", "id": f"{self.project}:{self.location}.{job_id}",
                "jobReference": {"projectId": self.project, "jobId": job_id, "location": self.location},
                "configuration": {"jobType": "QUERY", "labels": labels or {},
                                  "query": {"query": query, "useLegacySql": False}},
                "statistics": {"creationTime": _ms(now), "startTime": _ms(now)},
                "status": {"state": "PENDING"}, "user_email": "etl@it-project.iam.gserviceaccount.com",
            }
            self.scripts[job_id] = list(states)

    def _advance(self, job_id: str) -> dict[str, Any]:
        job, script = self.jobs[job_id], self.scripts[job_id]
        step = script.pop(0) if len(script) > 1 else script[0]
        state, error = (step, None) if isinstance(step, str) else step
        job["status"] = {"state": state}
        if state == "DONE":
            job["statistics"].setdefault("endTime", _ms(time.time()))
            if error:
                job["status"].update(errorResult=error, errors=[error])
        return job

    def _get(self, path: str) -> tuple[int, Any]:
        url = urlparse(path)
        match = JOB.match(url.path)
        self.requests.append(("GET", path, None))
        if not match:
            return 404, {"error": {"code": 404, "message": f"Not found: {url.path}", "status": "NOT_FOUND"}}
        with self._lock:
            job_id = match["job"]
            if job_id is None:  # jobs.list: newest first, as the API lists them
                jobs = sorted(self.jobs.values(), key=lambda j: j["statistics"]["creationTime"], reverse=True)
                listed = [{**j, "state": j["status"]["state"]} for j in jobs]
                return 200, {"kind": "bigquery#jobList", "jobs": listed}
            if job_id not in self.jobs:
                return 404, {"error": {"code": 404, "message": f"Not found: Job {self.project}:{job_id}",
                                       "status": "NOT_FOUND"}}
            return 200, self._advance(job_id)

    def _insert(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.requests.append(("POST", path, body))
        reference = body.get("jobReference") or {}
        job_id = reference.get("jobId", "")
        with self._lock:
            if job_id in self.jobs:
                return 409, {"error": {"code": 409, "message": f"Already Exists: Job {self.project}:{job_id}",
                                       "status": "ALREADY_EXISTS"}}
        query = body.get("configuration", {}).get("query", {}).get("query", "")
        self.script(job_id, list(self.inserted_script), query=query,
                    labels=body.get("configuration", {}).get("labels"))
        with self._lock:
            job = self.jobs[job_id]
            job["configuration"] = body.get("configuration", job["configuration"])
            job["status"] = {"state": "RUNNING"}
            return 200, job

    def inserts(self) -> list[dict[str, Any]]:
        return [body for method, _, body in self.requests if method == "POST" and body is not None]


def query_string(path: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(path).query)
