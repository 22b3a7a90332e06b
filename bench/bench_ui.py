"""The store queries behind the Healer page, on a store with 100,000 incidents and then 1,000,000.

Bulk-loads a temporary SQLite store by direct ``executemany`` (incidents over 90 days, 200 DAGs with a
few that fail far more than the rest, 1-3 failed tries and 1-3 actions each, statuses that depend on
age; ledger rows for the first load only), then times the median of 5 calls after a warm-up of
``overview()``, the first page of ``incident_page()``, filtered pages, a page 50,000 incidents deep
reached by cursor, and an incident's page (``get_incident`` and its ledger). It then grows the store
and times ``analytics(days=90)`` (and the same page calls again, for information). Prints a table with
the targets (300 ms at 100k; 2 s for analytics at 1M), RSS, and how long the loads took.
``--baseline`` first drops the indexes schema v6 added (as a v5 store had them) to show what they buy.
Usage: python bench/bench_ui.py [--n 100000] [--grow 1000000] [--baseline] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_healer.core.store.sqlite import SQLiteStore

DAYS = 90
N_DAGS = 200
CHUNK = 20_000
NOW = datetime.now(timezone.utc)
PAGE_TARGET, ANALYTICS_TARGET = 0.300, 2.0
# The indexes schema v6 added (incidents_search replaces v5's incidents_created).
V6_INDEXES = ("incidents_search", "incidents_status", "incidents_dag", "incidents_dag_task", "incidents_error_type",
              "actions_incident", "actions_strategy", "ledger_incident", "proposals_status")

# error type, weight, messages ({k}: a number), the strategies that handle it.
ERRORS = [
    ("network_timeout", 18, ["Read timed out. (read timeout={k})", "curl: (28) Failed to connect to api.partner-data.com "
                             "port 443 after {k} ms: Connection timed out"], ["retry", "retry_with_backoff"]),
    ("rate_limiting", 10, ["429 Client Error: Too Many Requests for url: https://api.hubapi.com/crm/v3/objects?after={k}"],
     ["retry_with_backoff"]),
    ("permission_denied", 8, ["403 Access Denied: Dataset acme-prod:sales_{k}: Permission bigquery.datasets.get denied"],
     ["grant_access"]),
    ("authentication_failure", 6, ['FATAL:  password authentication failed for user "etl_loader" (10.20.0.{k})'],
     ["refresh_credentials"]),
    ("resource_exhaustion", 8, ["Pod was evicted: the node was low on resource: memory. Container base used {k}Mi"],
     ["rescale"]),
    ("memory_leak", 5, ["java.lang.OutOfMemoryError: Java heap space (stage {k})"], ["rescale"]),
    ("disk_space_full", 4, ["[Errno 28] No space left on device: '/tmp/export/part-000{k}.parquet'"],
     ["clean_disk", "rescale"]),
    ("schema_mismatch", 7, ["400 Provided Schema does not match Table acme-prod:sales.orders_{k}. Field amount has "
                            "changed type from INTEGER to FLOAT"], ["schema_change"]),
    ("data_corruption", 3, ["Parquet magic bytes not found in footer of part-000{k}.parquet: file is corrupt"],
     ["clear_upstream"]),
    ("missing_dependency", 4, ["ModuleNotFoundError: No module named 'acme_utils_{k}'"], ["install_package"]),
    ("configuration_error", 5, ["KeyError: 'AIRFLOW_VAR_EXPORT_BUCKET_{k}' is not set"], ["change_setting"]),
    ("timeout_exceeded", 7, ["Timeout: task exceeded its execution_timeout of {k} seconds"],
     ["retry", "rescale"]),
    ("unknown", 5, ["Process exited with return code {k}"], ["retry"]),
    (None, 5, ["Task failed with exception (id {k})"], []),
]
TASKS = ["extract", "load_bq", "transform", "publish", "run_spark_job", "sync_api", "dbt_run", "export_gcs",
         "validate", "dedupe", "notify", "compact", "score_model", "snapshot", "merge"]
OPERATORS = ["PythonOperator", "BashOperator", "BigQueryInsertJobOperator", "_PythonDecoratedOperator",
             "KubernetesPodOperator"]
TRACEBACK = ('Traceback (most recent call last):\n  File "/opt/airflow/dags/{dag}.py", line {k}, in {task}\n'
             '    result = client.run(query, timeout=300)\n  File "/usr/local/lib/python3.11/site-packages/acme/'
             'client.py", line 212, in run\n    response = self._session.send(request)\n  File "/usr/local/lib/'
             'python3.11/site-packages/requests/sessions.py", line 703, in send\n    r = adapter.send(request)\n'
             '{message}\n')
LOG = ("[{at}] {{taskinstance.py:1234}} INFO - Starting attempt {try_} of 3\n[{at}] {{{task}.py:88}} INFO - Fetched "
       "{k} rows from source\n[{at}] {{{task}.py:97}} INFO - Writing partition dt={day}\n[{at}] {{taskinstance.py:"
       "2905}} ERROR - Task failed with exception\n{message}\n")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _status(rng: random.Random, age_days: float) -> str:
    if age_days < 1:  # the last day still has work in flight
        return rng.choices(["open", "healing", "escalated", "recovered", "not_recovered"], [25, 15, 15, 35, 10])[0]
    return rng.choices(["open", "healing", "escalated", "recovered", "not_recovered"], [2, 1, 10, 62, 25])[0]


def _rows(rng: random.Random, start: int, count: int, with_ledger: bool) -> tuple[list, list, list, list, list]:
    """One chunk of incidents and their failures, actions, ledger entries and proposals."""
    incidents, failures, actions, ledger, proposals = [], [], [], [], []
    dag_weights = [1 / (rank + 1) ** 0.8 for rank in range(N_DAGS)]
    dags = rng.choices(range(N_DAGS), dag_weights, k=count)
    kinds = rng.choices(ERRORS, [e[1] for e in ERRORS], k=count)
    for offset in range(count):
        i = start + offset
        # Slightly more failures lately, fewer at weekends.
        age = DAYS * (1 - rng.random() ** 0.9)
        if (NOW - timedelta(days=age)).weekday() >= 5 and rng.random() < 0.4:
            age = DAYS * (1 - rng.random() ** 0.9)
        created = NOW - timedelta(days=age)
        dag = f"{['ingest', 'daily', 'hourly', 'export', 'sync'][dags[offset] % 5]}_{dags[offset]:03d}"
        task = TASKS[(dags[offset] * 7 + rng.randrange(6)) % len(TASKS)]
        error_type, _, messages, strategies = kinds[offset]
        k = rng.randrange(1, 999)
        message = rng.choice(messages).format(k=k)
        status = _status(rng, age)
        tries = rng.choices([1, 2, 3], [50, 35, 15])[0]
        at = _iso(created)
        updated = _iso(created + timedelta(seconds=rng.lognormvariate(6.5, 1.2) if status in ("recovered",
                                                                                               "not_recovered")
                                           else rng.random() * 60))
        incident_id = f"{rng.getrandbits(128):032x}"
        traceback = TRACEBACK.format(dag=dag, task=task, k=k, message=message)
        log = LOG.format(at=at[:19], try_=tries, task=task, k=k * 131, day=at[:10], message=message)
        reason = {"recovered": "the task succeeded after the healer's retry", "not_recovered": "gave up after 3 tries",
                  "escalated": "confidence below 0.6: waits for a person"}.get(status, "")
        incidents.append((incident_id, dag, f"scheduled__{at[:19]}+00:00_{i}", task, -1, status, at, updated, tries,
                          rng.choice(OPERATORS), "Exception", message, traceback, f"{hash(message) & 0xffffff:06x}",
                          "worker-1", error_type, round(rng.uniform(0.4, 0.99), 3) if error_type else None,
                          "rules" if error_type else None, reason, log))
        for try_number in range(1, tries + 1):
            failures.append((incident_id, try_number, message, traceback, at, "callback",
                             log if try_number == tries else ""))
        n_actions = rng.choices([1, 2, 3], [55, 30, 15])[0] if strategies else 0
        for attempt in range(1, n_actions + 1):
            last = attempt == n_actions
            outcome = ("success" if status == "recovered" else "pending" if status == "healing"
                       else "proposed" if status == "escalated" else "failed") if last else "failed"
            actions.append((incident_id, rng.choice(strategies), attempt, outcome, at, updated if last else at))
        if status == "escalated" and rng.random() < 0.05:
            expires = _iso(created + timedelta(days=1))
            proposals.append((incident_id[:12], incident_id, dag, f"scheduled__{at[:19]}+00:00_{i}", task, -1,
                              strategies[0] if strategies else "change_setting", "grant the role", "pending", at,
                              expires))
        if with_ledger:
            ledger.append((at, "failure", incident_id, f'{{"task": "{dag}.{task}", "try_number": {tries}}}'))
            if error_type:
                ledger.append((at, "classified", incident_id, f'{{"error_type": "{error_type}"}}'))
            if n_actions:
                ledger.append((at, "action", incident_id, f'{{"strategy": "{actions[-1][1]}", "outcome": "pending"}}'))
                ledger.append((updated, "outcome", incident_id, f'{{"outcome": "{actions[-1][3]}"}}'))
            ledger.append((updated, "status", incident_id, f'{{"status": "{status}", "reason": "{reason}"}}'))
    return incidents, failures, actions, ledger, proposals


def load(path: Path, start: int, count: int, *, with_ledger: bool, seed: int) -> float:
    """Insert ``count`` incidents (numbered from ``start``) with one connection; returns the seconds taken."""
    rng = random.Random(seed)
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    # A bulk load with nobody else on the file: no journal to write twice; WAL again afterwards.
    assert conn.execute("PRAGMA journal_mode=OFF").fetchone()[0] == "off"
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")  # 400 MB: the indexes' random inserts stay in memory
    for first in range(start, start + count, CHUNK):
        incidents, failures, actions, ledger, proposals = _rows(rng, first, min(CHUNK, start + count - first),
                                                                with_ledger)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO incidents (id, dag_id, run_id, task_id, map_index, status, created_at, updated_at,"
            " last_try_number, operator, exception_type, message, traceback, fingerprint, hostname, error_type,"
            " confidence, classifier, reason, log_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?)", incidents)
        conn.executemany("INSERT INTO failures (incident_id, try_number, message, traceback, captured_at, source,"
                         " log_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)", failures)
        conn.executemany("INSERT INTO actions (incident_id, strategy, attempt, outcome, started_at, finished_at)"
                         " VALUES (?, ?, ?, ?, ?, ?)", actions)
        conn.executemany("INSERT INTO ledger (at, kind, incident_id, payload) VALUES (?, ?, ?, ?)", ledger)
        conn.executemany("INSERT OR IGNORE INTO proposals (id, incident_id, dag_id, run_id, task_id, map_index,"
                         " strategy, change, status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         proposals)
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return time.perf_counter() - began


def load_apart(store: SQLiteStore, start: int, count: int, *, with_ledger: bool, seed: int) -> float:
    """:func:`load` in a child process, so that the RSS printed is the store's calls' alone."""
    store.close()  # the loader switches the journal off, which needs the file to itself
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(load, store.path, start, count, with_ledger=with_ledger, seed=seed).result()


def timed(call: Callable[[], Any], repeat: int = 5) -> float:
    """The median seconds of ``repeat`` calls after one warm-up."""
    call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page_calls(store: SQLiteStore) -> list[tuple[str, Callable[[], Any]]]:
    """The calls the overview, the incident list and an incident's page make, with their arguments found."""
    conn = sqlite3.connect(store.path)
    busiest = conn.execute("SELECT dag_id FROM incidents GROUP BY dag_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    conn.close()
    cursor = None
    for _ in range(1000):  # 1,000 pages of 50: the page 50,000 incidents deep
        cursor = store.incident_page(limit=50, before=cursor)["next"]
    some = store.incident_page(limit=1)["incidents"][0]["id"]
    week_ago = NOW - timedelta(days=7)
    return [
        ("overview()", store.overview),
        ("incident_page() first page", store.incident_page),
        (f"  dag_id={busiest} status=not_recovered", lambda: store.incident_page(dag_id=busiest,
                                                                                 status="not_recovered")),
        ("  error_type=schema_mismatch, since 7 days", lambda: store.incident_page(error_type="schema_mismatch",
                                                                                     since=week_ago)),
        ("  search='evicted' (common)", lambda: store.incident_page(search="evicted")),
        ("  search='acme_utils_77' (rare)", lambda: store.incident_page(search="acme_utils_77")),
        ("  page 1,001 by cursor (50,000 deep)", lambda: store.incident_page(limit=50, before=cursor)),
        ("get_incident(id)", lambda: store.get_incident(some)),
        ("ledger(id) (the incident's history)", lambda: store.ledger(some)),
    ]


def page_getter(store: SQLiteStore) -> Callable[[str], Callable[[], Any]]:
    """``get(path)``: a call that asks the app for one page as a browser would, templates rendered, through
    FastAPI's TestClient (in process: server time, no network). Only the sign-in is left out (a reader is
    given): Airflow's auth is not what is measured."""
    from fastapi.testclient import TestClient

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.ui import common
    from airflow_healer.ui.app import create_app

    class Reader:
        def get_id(self) -> str:
            return "bench"

        def get_name(self) -> str:
            return "bench"

    app = create_app(HealerConfig().replace(store_url=f"sqlite:///{store.path}"))
    app.dependency_overrides[common.reader] = Reader
    app.dependency_overrides[common.store] = lambda: store
    client = TestClient(app, base_url="http://bench/healer", root_path="/healer")

    def get(path: str) -> Callable[[], Any]:
        def call() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return call

    return get


def route_calls(store: SQLiteStore) -> list[tuple[str, Callable[[], Any]]]:
    get = page_getter(store)
    some = store.incident_page(limit=1)["incidents"][0]["id"]
    return [("GET /healer/ (overview page)", get("/")), ("GET /healer/incidents", get("/incidents")),
            ("GET /healer/incidents?status=escalated&search=timeout", get("/incidents?status=escalated&search=timeout")),
            ("GET /healer/incidents/{id}", get(f"/incidents/{some}")), ("GET /healer/api/overview", get("/api/overview"))]


def report(rows: list[tuple[str, float, float | None]]) -> None:
    print(f"  {'call':<46} {'median':>10} {'target':>8}  ")
    for name, seconds, target in rows:
        verdict = "" if target is None else ("ok" if seconds <= target else "MISSED")
        print(f"  {name:<46} {seconds * 1000:>8.1f}ms {f'{target * 1000:.0f}ms' if target else '':>8}  {verdict}")


def run(args: argparse.Namespace, folder: str) -> None:
    path = Path(folder) / "healer.db"
    store = SQLiteStore(path)
    store.ledger(limit=1)  # creates the schema
    if args.baseline:
        conn = sqlite3.connect(path)
        for name in V6_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("CREATE INDEX incidents_created ON incidents (created_at)")
        conn.close()
        print("baseline: the v6 indexes dropped (only v5's created_at and fingerprint indexes)")
    seconds = load_apart(store, 0, args.n, with_ledger=True, seed=1)
    size = path.stat().st_size / 2**20
    print(f"loaded {args.n:,} incidents (failures, actions, ledger) in {seconds:.1f} s: {size:,.0f} MB")
    rss_before = rss_mb()
    report([(name, timed(call), PAGE_TARGET) for name, call in page_calls(store)])
    report([(name, timed(call), PAGE_TARGET) for name, call in route_calls(store)])
    print(f"  RSS {rss_mb():.0f} MB (before the calls {rss_before:.0f} MB), peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.grow <= args.n:
        return
    seconds = load_apart(store, args.n, args.grow - args.n, with_ledger=False, seed=2)
    size = path.stat().st_size / 2**20
    print(f"grown to {args.grow:,} incidents in {seconds:.1f} s more (no ledger rows for these): {size:,.0f} MB")
    rows = [("analytics(days=90)", timed(lambda: store.analytics(days=90)), ANALYTICS_TARGET),
            ("analytics(days=30)", timed(lambda: store.analytics(days=30)), ANALYTICS_TARGET)]
    rows += [("GET /healer/analytics?days=90 (page)", timed(page_getter(store)("/analytics?days=90")),
              ANALYTICS_TARGET)]
    rows += [(name, timed(call), None) for name, call in page_calls(store)]
    report(rows)
    print(f"  RSS {rss_mb():.0f} MB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    store.close()


def main() -> None:
    import logging

    logging.disable(logging.INFO)  # the test client logs every request
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000, help="incidents for the page calls")
    parser.add_argument("--grow", type=int, default=1_000_000, help="incidents for analytics (0: skip)")
    parser.add_argument("--baseline", action="store_true", help="without the indexes schema v6 added")
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 incidents")
    args = parser.parse_args()
    if args.quick:
        args.n, args.grow = 10_000, 100_000
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as folder:
        run(args, folder)


if __name__ == "__main__":
    main()
