"""One watchdog cycle over many failed task instances, served by a local fake of Airflow's REST API.

The fake API is a real HTTP server on 127.0.0.1 (in a child process, as Airflow's API server is
another process: its work shares neither this process's GIL nor its RSS), so the hook's own httpx
client, token, paging and NDJSON log streaming are what is measured. Every failed try has a
realistic Airflow 3 task log that ends in one of a handful of errors; the store is a temporary
SQLite file. Prints the classifier's load time, the cycle's wall time, throughput, where the time
went, peak RSS growth, the report's summary, how the logs were classified against the error each
one was written with, and a second cycle (which must find nothing new: the watermark moved).
Usage: python bench/bench_watchdog.py [--n 10000] [--quick]
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core for the classifier, as in bench_rag.py
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

TOKEN = "t"
SPAN = timedelta(hours=3)  # the failures' end dates spread over this, ending a minute before "now"
N_SUCCESSFUL = 20
BASH = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
DOMAINS = ["orders", "revenue", "events", "features", "partners", "billing", "crm", "ads", "inventory",
           "logistics"]
STAGES = ["ingest", "daily", "hourly", "export", "sync", "load", "ml", "report", "backfill", "dq"]
DAG_IDS = [f"{stage}_{domain}{suffix}" for suffix in ("", "_v2") for stage in STAGES for domain in DOMAINS]
TASK_IDS = ["extract", "load_bq", "transform", "publish", "run_spark_job", "sync_api", "dbt_run", "export_gcs"]
USER_LINES = ["Loading config for environment prod", "Fetched {n} rows from source", "Processing batch {k} of 12",
              "Writing partition dt=2026-11-30", "Connecting to warehouse", "Starting export of customers table",
              "Using temporary directory /tmp/work-{h}", "Progress: {pct}% ({n}/100000)",
              "Uploading part-000{k}.parquet (12.4 MB)", "Query submitted, polling for results"]
HOSTS = ["api.partner-data.com", "api.hubapi.com", "sftp.vendor.net", "ingest.acme.io"]

# name, operator, the error type a person would give it (None: not scored), how the log ends.
ERRORS = [
    ("curl timeout", "BashOperator", "network_timeout", {
        "output": ["curl: (28) Failed to connect to {host} port 443 after {ms} ms: Connection timed out"],
        "code": 28}),
    ("java heap", "BashOperator", "memory_leak", {
        "output": ["24/11/30 02:14:07 INFO SparkContext: Running Spark version 3.5.1",
                   'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
                   "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
                   "\tat java.base/java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:228)",
                   "\tat com.acme.etl.Aggregate.main(Aggregate.java:{line})"],
        "code": 1}),
    ("bigquery 403", "_PythonDecoratedOperator", "permission_denied", {
        "exc_type": "google.api_core.exceptions.Forbidden",
        "exc_value": "403 GET https://bigquery.googleapis.com/bigquery/v2/projects/acme-prod/datasets/sales_{k}"
                     "?prettyPrint=false: Access Denied: Dataset acme-prod:sales_{k}: Permission "
                     "bigquery.datasets.get denied on dataset acme-prod:sales_{k} (or it may not exist)."}),
    ("postgres auth", "PythonOperator", "authentication_failure", {
        "exc_type": "OperationalError",
        "exc_value": 'connection to server at "10.20.0.{k}", port 5432 failed: FATAL:  password authentication '
                     'failed for user "etl_loader"'}),
    ("disk full", "_PythonDecoratedOperator", "disk_space_full", {
        "exc_type": "OSError", "exc_value": "[Errno 28] No space left on device: '/tmp/export/part-000{k}.parquet'"}),
    ("http 429", "_PythonDecoratedOperator", "rate_limiting", {
        "exc_type": "HTTPError",
        "exc_value": "429 Client Error: Too Many Requests for url: https://{host}/crm/v3/objects/contacts?limit=100"
                     "&after={n}"}),
    ("schema", "_PythonDecoratedOperator", "schema_mismatch", {
        "exc_type": "google.api_core.exceptions.BadRequest",
        "exc_value": "400 Provided Schema does not match Table acme-prod:sales.orders_{k}. Field amount has changed "
                     "type from NUMERIC to STRING"}),
    ("no module", "PythonOperator", "missing_dependency", {
        "exc_type": "ModuleNotFoundError", "exc_value": "No module named 'snowflake'"}),
    ("task timeout", "_PythonDecoratedOperator", "timeout_exceeded", {
        "exc_type": "AirflowTaskTimeout", "exc_value": "Timeout, PID: {pid}"}),
    ("sigkill", "BashOperator", None, {"killed": True}),
]
WEIGHTS = [20, 8, 14, 8, 6, 10, 8, 6, 10, 10]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def task_instances(n: int, anchor: float) -> tuple[list[dict], list[dict], dict[tuple[str, str, str], int]]:
    """The failed and successful task instances, and which ERRORS entry each failed try's log ends in;
    the same for the same arguments (the server and the scoring both call it)."""
    r = random.Random(42)
    last = datetime.fromtimestamp(anchor, timezone.utc) - timedelta(minutes=1)
    failed, errors, seen = [], {}, set()
    for i in range(n):
        end = last - SPAN * (n - 1 - i) / max(1, n - 1)
        start = end - timedelta(seconds=r.uniform(2, 900))
        dag_id, task_id = r.choice(DAG_IDS), r.choice(TASK_IDS)
        run_id = f"scheduled__{start.replace(minute=0, second=0, microsecond=0).isoformat()}"
        while (dag_id, run_id, task_id) in seen:  # one failed try per task instance
            run_id = f"manual__{_iso(start - timedelta(microseconds=r.randint(1, 10**9)))}"
        seen.add((dag_id, run_id, task_id))
        kind = r.choices(range(len(ERRORS)), WEIGHTS)[0]
        errors[(dag_id, run_id, task_id)] = kind
        failed.append(_ti(dag_id, run_id, task_id, "failed", ERRORS[kind][1], start, end, r))
    successful = []
    for i in range(N_SUCCESSFUL):
        end = last - SPAN * i / N_SUCCESSFUL
        start = end - timedelta(seconds=r.uniform(2, 300))
        run_id = f"scheduled__{start.replace(minute=0, second=0, microsecond=0).isoformat()}"
        successful.append(_ti(r.choice(DAG_IDS), run_id, f"ok_{i}", "success", "BashOperator", start, end, r))
    successful.sort(key=lambda ti: ti["end_date"])
    return failed, successful, errors


def _ti(dag_id: str, run_id: str, task_id: str, state: str, operator: str, start: datetime, end: datetime,
        r: random.Random) -> dict:
    queued = start - timedelta(seconds=r.uniform(0.2, 20))
    return {"id": str(uuid.UUID(int=r.getrandbits(128))), "task_id": task_id, "task_display_name": task_id,
            "dag_id": dag_id, "dag_display_name": dag_id, "dag_run_id": run_id, "map_index": -1,
            "rendered_map_index": None, "logical_date": _iso(start.replace(minute=0, second=0, microsecond=0)),
            "run_after": _iso(queued), "start_date": _iso(start), "end_date": _iso(end),
            "duration": (end - start).total_seconds(), "state": state, "try_number": 1, "max_tries": 0,
            "hostname": f"airflow-worker-{r.randint(0, 7)}", "unixname": "airflow", "pool": "default_pool",
            "pool_slots": 1, "queue": "default", "priority_weight": 1, "operator": operator,
            "operator_name": operator, "queued_when": _iso(queued), "scheduled_when": _iso(queued),
            "pid": r.randint(100, 99999), "executor": None, "executor_config": "{}", "note": None,
            "rendered_fields": {}, "trigger": None, "triggerer_job": None,
            "dag_version": {"id": str(uuid.UUID(int=r.getrandbits(128))), "version_number": 1, "dag_id": dag_id,
                            "bundle_name": "dags-folder", "bundle_version": None}}


def task_log(ti: dict, kind: int | None) -> bytes:
    """An Airflow 3 task log as the API streams it (NDJSON): boilerplate, user lines, then the error
    (``kind`` is an ERRORS index; None: the try succeeded)."""
    r = random.Random(f"{ti['dag_id']}/{ti['dag_run_id']}/{ti['task_id']}")
    start, end = _parse(ti["start_date"]), _parse(ti["end_date"])
    spec = ERRORS[kind][3] if kind is not None else {"output": ["done"], "code": 0}
    fill = {"host": r.choice(HOSTS), "ms": r.randint(130000, 135000), "n": r.randint(1000, 99999),
            "k": r.randint(10, 99), "pct": r.randint(1, 99), "h": f"{r.getrandbits(16):04x}", "line": r.randint(20, 400),
            "pid": r.randint(100, 99999)}
    dag_file = f"/opt/airflow/dags/{ti['dag_id']}.py"
    bash = "output" in spec or "killed" in spec
    events: list[dict] = [
        {"event": "::group::Log message source details", "sources": [
            f"/opt/airflow/logs/dag_id={ti['dag_id']}/run_id={ti['dag_run_id']}/task_id={ti['task_id']}/attempt=1.log"]},
        {"event": "::endgroup::"},
        {"event": "DAG bundles loaded: dags-folder", "level": "info",
         "logger": "airflow.dag_processing.bundles.manager.DagBundlesManager"},
        {"event": f"Filling up the DagBag from {dag_file}", "level": "info", "logger": "airflow.models.dagbag.DagBag"},
        {"event": "::group::Pre Execute", "level": "info", "logger": "task"},
        {"event": "::endgroup::", "level": "info", "logger": "task"},
    ]
    if bash:
        command = "spark-submit --class com.acme.etl.Aggregate etl.jar" if kind == 1 else f"curl -sf https://{fill['host']}/export"
        events += [{"event": "Tmp dir root location: /tmp", "level": "info", "logger": BASH},
                   {"event": f"Running command: ['/usr/bin/bash', '-c', '{command}']", "level": "info", "logger": BASH},
                   {"event": "Output:", "level": "info", "logger": BASH}]
    else:
        events.append({"event": "Using connection ID 'google_cloud_default' for task execution.", "level": "info",
                       "logger": "airflow.hooks.base"})
    logger = BASH if bash else "task.stdout"
    for _ in range(r.randint(3, 22)):
        events.append({"event": r.choice(USER_LINES).format(**fill), "level": "info", "logger": logger})
    if "killed" in spec:
        events.append({"event": "Process exited", "level": "warning", "logger": "supervisor", "pid": fill["pid"],
                       "exit_code": -9, "signal_sent": "SIGKILL"})
    elif "output" in spec:
        events += [{"event": line.format(**fill), "level": "info", "logger": BASH} for line in spec["output"]]
        events.append({"event": f"Command exited with return code {spec['code']}", "level": "info", "logger": BASH})
        if spec["code"]:
            events.append(_failed("AirflowException",
                                  f"Bash command failed. The command returned a non-zero exit code {spec['code']}.", []))
    else:
        frames = [{"filename": "/home/airflow/.local/lib/python3.12/site-packages/airflow/sdk/execution_time/"
                               "task_runner.py", "lineno": 877, "name": "run"},
                  {"filename": "/home/airflow/.local/lib/python3.12/site-packages/airflow/sdk/execution_time/"
                               "task_runner.py", "lineno": 1164, "name": "_execute_task"},
                  {"filename": dag_file, "lineno": fill["line"], "name": ti["task_id"]}]
        events.append(_failed(spec["exc_type"], spec["exc_value"].format(**fill), frames))
    moments = sorted(r.uniform(0, (end - start).total_seconds()) for _ in events)
    for event, offset in zip(events, moments, strict=True):
        event.setdefault("timestamp", _iso(start + timedelta(seconds=offset)))
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def _failed(exc_type: str, exc_value: str, frames: list[dict]) -> dict:
    return {"event": "Task failed with exception", "level": "error", "logger": "task", "error_detail": [
        {"exc_type": exc_type, "exc_value": exc_value, "exc_notes": [], "syntax_error": None, "is_cause": False,
         "frames": frames}]}


def serve(n: int, anchor: float, ready: multiprocessing.Queue) -> None:
    """The fake API (runs in the child process until terminated)."""
    failed, successful, errors = task_instances(n, anchor)
    by_key = {(ti["dag_id"], ti["dag_run_id"], ti["task_id"]): ti for ti in failed + successful}
    ends = {"failed": [_parse(ti["end_date"]) for ti in failed], "success": [_parse(ti["end_date"]) for ti in successful]}
    lists = {"failed": failed, "success": successful}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves Airflow's API
        # TCP_NODELAY, as uvicorn sets it: without it the headers and the body go as two segments and
        # the client's delayed ACK adds ~40 ms to every response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line a request would drown the figures

        def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/auth/token":
                self._send(201, {"access_token": TOKEN})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"detail": "Not authenticated"})
                return
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")]
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/api/v2/dags/~/dagRuns/~/taskInstances":
                self._send(200, self._listing(query))
            elif len(parts) == 11 and parts[1:4] == ["api", "v2", "dags"] and parts[9] == "logs":
                key = (parts[4], parts[6], parts[8])
                if key not in by_key or parts[10] != "1":
                    self._send(404, {"detail": "TaskInstance not found"})
                else:
                    self._send(200, task_log(by_key[key], errors.get(key)), "application/x-ndjson")
            else:
                self._send(404, {"detail": "Not Found"})

        @staticmethod
        def _listing(query: dict[str, str]) -> dict:
            state = query.get("state", "failed")
            items, moments = lists.get(state, []), ends.get(state, [])
            if "end_date_gt" in query:
                lo = bisect.bisect_right(moments, _parse(query["end_date_gt"]))
            elif "end_date_gte" in query:
                lo = bisect.bisect_left(moments, _parse(query["end_date_gte"]))
            else:
                lo = 0
            hi = bisect.bisect_right(moments, _parse(query["end_date_lte"])) if "end_date_lte" in query else len(items)
            selected = items[lo:hi]
            if query.get("order_by", "").startswith("-"):
                selected = selected[::-1]
            offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 50)), 100)
            return {"task_instances": selected[offset: offset + limit], "total_entries": len(selected)}

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready.put(server.server_address[1])
    server.serve_forever()


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    current = peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return current, peak


def _timed(fn: Callable[..., Any], bucket: str, spent: dict[str, float]) -> Callable[..., Any]:
    """``fn``, adding the seconds each call takes to ``spent[bucket]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[bucket] += time.perf_counter() - started
    return wrapper


def run(n: int, home: str, base_url: str, anchor: float) -> None:
    import logging

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.store.sqlite import SQLiteStore
    from airflow_healer.core.watchdog import Watchdog
    from airflow_healer.hooks.airflow_api import AirflowApiHook

    # One INFO line per classified try would be 10,000 lines here; warnings still show.
    logging.getLogger("airflow_healer").setLevel(logging.WARNING)

    db = Path(home) / "healer.db"
    config = HealerConfig(store_url=f"sqlite:///{db}", watchdog_max_per_cycle=10_000, watchdog_learn_per_cycle=5,
                          watchdog_lookback="1d", spool_dir=str(Path(home) / "spool"))
    healer = Healer(config, store=SQLiteStore(db))
    hook = AirflowApiHook()
    hook.__dict__["settings"] = {"base_url": base_url, "username": "admin", "password": "x"}
    requests = Counter()
    hook.client.event_hooks = {"request": [lambda request: requests.update([request.url.path.rsplit("/", 1)[-1]])]}

    started = time.perf_counter()
    classifier = healer.classifier
    print(f"classifier load (first use): {time.perf_counter() - started:.2f} s ({classifier.name})")

    spent: dict[str, float] = defaultdict(float)
    hook.failed_task_instances = _timed(hook.failed_task_instances, "list", spent)
    hook.task_log = _timed(hook.task_log, "log", spent)
    healer.read_log = _timed(healer.read_log, "locate", spent)
    healer.classify = _timed(healer.classify, "healer.classify", spent)
    classifier.classify = _timed(classifier.classify, "model", spent)

    rss_before, peak_before = _rss_mb()
    started = time.perf_counter()
    report = Watchdog(healer, hook).cycle()
    elapsed = time.perf_counter() - started
    rss_after, peak_after = _rss_mb()
    seen = max(1, report.seen)

    print(f"cycle over {report.seen:,} failed task instances: {elapsed:.1f} s wall, {report.seen / elapsed:,.0f} "
          f"task instances/s, {elapsed * 1000 / seen:.2f} ms each")
    shares = [("listing failed task instances (HTTP pages)", spent["list"]),
              ("fetching logs (HTTP + NDJSON)", spent["log"]),
              ("locating the telling lines", spent["locate"]),
              ("classifier (model + retrieval)", spent["model"]),
              ("storing classifications", spent["healer.classify"] - spent["model"])]
    shares.append(("the rest (recording, claims, store reads/writes, learning)", elapsed - sum(s for _, s in shares)))
    for name, seconds in shares:
        print(f"  {name:<60} {seconds:7.1f} s  {seconds / elapsed:5.1%}  {seconds * 1000 / seen:6.2f} ms/ti")
    print(f"HTTP requests: {sum(requests.values()):,} ({requests.get('taskInstances', 0)} listings, "
          f"{requests.get('token', 0)} token, the rest logs)")
    print(f"RSS: {rss_before:.0f} -> {rss_after:.0f} MB; peak {peak_before:.0f} -> {peak_after:.0f} MB "
          f"(+{peak_after - peak_before:.0f} MB during the cycle)")
    print(f"report: {report.summary()}")
    print(f"  watermark {report.watermark}, learnt {report.learnt_templates} boilerplate template(s), "
          f"more={report.more}")
    for error in report.errors[:5]:
        print(f"  error: {error}")

    with sqlite3.connect(db) as conn:
        incidents = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
        classified = conn.execute("SELECT dag_id, run_id, task_id, error_type FROM incidents").fetchall()
    print(f"incidents in the store: {incidents:,}")
    _, _, errors = task_instances(n, anchor)
    by_kind: dict[int, Counter] = defaultdict(Counter)
    for dag_id, run_id, task_id, error_type in classified:
        by_kind[errors[(dag_id, run_id, task_id)]][error_type] += 1
    print("classified against the error each log was written with:")
    for kind, (name, _, expected, _) in enumerate(ERRORS):
        got = by_kind.get(kind, Counter())
        total = sum(got.values())
        hit = f"{got[expected] / total:4.0%} {expected}" if expected and total else "   - (not scored)"
        print(f"  {name:<14} {total:5,}  {hit:<28} got: "
              + ", ".join(f"{t} {c}" for t, c in got.most_common(3)))

    started = time.perf_counter()
    second = Watchdog(healer, hook).cycle()
    print(f"second cycle: {time.perf_counter() - started:.3f} s, seen {second.seen}, recorded {second.recorded} "
          f"(since {second.since})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000, help="failed task instances the fake API serves")
    parser.add_argument("--quick", action="store_true", help="500 task instances")
    args = parser.parse_args()
    n = 500 if args.quick else args.n

    anchor = time.time()
    context = multiprocessing.get_context("spawn")  # a clean child: no airflow imported in it
    ready = context.Queue()
    server = context.Process(target=serve, args=(n, anchor, ready), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=120)
        with tempfile.TemporaryDirectory() as home:
            os.environ["AIRFLOW_HOME"] = home  # before anything imports airflow (the hook is a BaseHook)
            run(n, home, f"http://127.0.0.1:{port}", anchor)
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
