"""SQLite and PostgreSQL side by side: concurrent writes, the failure callback, analytics at scale.

1. Incident inserts per second: 8 writer processes (and 1, for the ratio) each recording new
   incidents through ``record_failure`` at once.
2. The failure callback (the real ``on_failure_callback``, a new try each call) in 1 and 8 processes
   at once: p50 and p99, and the first call of a process (connecting, creating nothing).
3. ``analytics(days=90)``, ``overview()``, the first incident page and a search over ``--n``
   incidents (1,000,000 by default) bulk-loaded as bench_ui.py makes them (90 days, 200 DAGs, 1-3
   tries and actions each); SQLite by ``executemany``, PostgreSQL by COPY. Median of 3 after a warm-up.

PostgreSQL is a real server started in a temporary folder (tests/services.py), fsync off, as a
test cluster; a production server with fsync pays more per commit. Run from anywhere:
    python bench/bench_stores.py [--n 1000000] [--writes 400] [--calls 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_callback import _run  # noqa: E402
from bench_ui import CHUNK, _rows, timed  # noqa: E402

from tests.services import LocalPostgres  # noqa: E402


def _writer(url: str, worker: int, count: int, start, out) -> None:
    from airflow_healer.core.capture import make_failure
    from airflow_healer.core.store import open_store

    store = open_store(url)
    store.ledger(limit=1)  # connected, schema checked: what is timed is the writes
    start.wait()
    began = time.perf_counter()
    for n in range(count):
        store.record_failure(make_failure(dag_id="bench", task_id=f"w{worker}", run_id=f"run_{n}", try_number=1,
                                          message=f"Read timed out (read timeout={n})", operator="PythonOperator"))
    out.put(time.perf_counter() - began)


def inserts_per_second(url: str, writers: int, count: int) -> float:
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    procs = [context.Process(target=_writer, args=(url, w + writers * 100, count, start, out)) for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(3)  # every process imported and connected
    began = time.perf_counter()
    start.set()
    [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - began
    for p in procs:
        p.join()
    return writers * count / wall


def _caller(url: str, worker: int, calls: int, start, out) -> None:
    """bench_callback's calls on the store at ``url``, all processes starting together (imports done first)."""
    os.environ["AIRFLOW__HEALER__STORE_URL"] = url
    import airflow_healer  # noqa: F401 - imported before the start, not timed

    start.wait()
    _run(calls, worker, out)


def callback_times(url: str, processes: int, calls: int) -> tuple[float, float, float]:
    """(first call, p50, p99) in milliseconds over every process's calls."""
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    procs = [context.Process(target=_caller, args=(url, w + 1000 * processes, calls, start, out))
             for w in range(processes)]
    for p in procs:
        p.start()
    time.sleep(3)
    start.set()
    runs = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    first = statistics.median(r[0] for r in runs) * 1000
    rest = sorted(t * 1000 for r in runs for t in r[1:])
    return first, statistics.median(rest), rest[min(len(rest) - 1, int(len(rest) * 0.99))]


_INCIDENTS = ("id, dag_id, run_id, task_id, map_index, status, created_at, updated_at, last_try_number, operator,"
              " exception_type, message, traceback, fingerprint, hostname, error_type, confidence, classifier, reason,"
              " log_excerpt")
_FAILURES = "incident_id, try_number, message, traceback, captured_at, source, log_excerpt"
_ACTIONS = "incident_id, strategy, attempt, outcome, started_at, finished_at"


def load_sqlite(path: Path, n: int) -> None:
    import random
    import sqlite3

    rng = random.Random(7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    for first in range(0, n, CHUNK):
        incidents, failures, actions, _, _ = _rows(rng, first, min(CHUNK, n - first), False)
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO incidents ({_INCIDENTS}) VALUES ({', '.join('?' * 20)})", incidents)
        conn.executemany(f"INSERT INTO failures ({_FAILURES}) VALUES (?, ?, ?, ?, ?, ?, ?)", failures)
        conn.executemany(f"INSERT INTO actions ({_ACTIONS}) VALUES (?, ?, ?, ?, ?, ?)", actions)
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def load_postgres(url: str, n: int) -> None:
    import random

    import psycopg

    rng = random.Random(7)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        for first in range(0, n, CHUNK):
            incidents, failures, actions, _, _ = _rows(rng, first, min(CHUNK, n - first), False)
            with conn.cursor() as cursor:
                for table, columns, rows in (("incidents", _INCIDENTS, incidents), ("failures", _FAILURES, failures),
                                             ("actions", _ACTIONS, actions)):
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            conn.commit()
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a load: visibility map and statistics


def queries(store) -> dict[str, float]:
    return {"analytics(days=90)": timed(lambda: store.analytics(days=90), repeat=3),
            "overview()": timed(store.overview, repeat=3),
            "incident_page()": timed(store.incident_page, repeat=3),
            "incident_page(search=...)": timed(lambda: store.incident_page(search="Java heap"), repeat=3)}


def part_writes(urls, writes: int) -> None:
    print(f"1. incident inserts per second ({writes} each writer, new incidents)")
    for label, url in urls.items():
        one = inserts_per_second(url("writes1"), 1, writes)
        eight = inserts_per_second(url("writes8"), 8, writes)
        print(f"   {label:<11} 1 writer {one:8.0f}/s   8 writers {eight:8.0f}/s   (x{eight / one:.2f})")


def part_callback(urls, calls: int) -> None:
    print(f"2. failure callback ({calls} calls a process)")
    for label, url in urls.items():
        for processes in (1, 8):
            first, p50, p99 = callback_times(url(f"callback{processes}"), processes, calls)
            print(f"   {label:<11} {processes} process(es): first call {first:7.1f} ms   p50 {p50:6.2f} ms"
                  f"   p99 {p99:6.2f} ms")


def part_queries(folder: str, pg: LocalPostgres, n: int) -> None:
    from airflow_healer.core.store.postgres import PostgresStore
    from airflow_healer.core.store.sqlite import SQLiteStore

    print(f"3. Healer page queries over {n:,} incidents (median of 3)")
    sqlite = SQLiteStore(Path(folder) / "big.db")
    sqlite.ledger(limit=1)
    sqlite.close()
    postgres = PostgresStore(pg.create_database("big"))
    postgres.ledger(limit=1)
    began = time.perf_counter()
    load_sqlite(sqlite.path, n)
    loaded_sqlite = time.perf_counter() - began
    began = time.perf_counter()
    load_postgres(postgres.url, n)
    loaded_postgres = time.perf_counter() - began
    print(f"   loaded in {loaded_sqlite:.0f} s (SQLite) and {loaded_postgres:.0f} s (PostgreSQL, COPY + VACUUM ANALYZE)")
    figures = {"SQLite": queries(sqlite), "PostgreSQL": queries(postgres)}
    print(f"   {'':<28}{'SQLite':>10}{'PostgreSQL':>12}")
    for name in figures["SQLite"]:
        print(f"   {name:<28}{figures['SQLite'][name]:9.3f}s{figures['PostgreSQL'][name]:11.3f}s")
    postgres.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="incidents for the analytics part")
    parser.add_argument("--writes", type=int, default=400, help="incidents each writer records")
    parser.add_argument("--calls", type=int, default=300, help="callback calls per process")
    parser.add_argument("--parts", default="1,2,3", help="the parts to run, e.g. 3 or 1,2")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as folder, LocalPostgres() as pg:
        os.environ["AIRFLOW_HOME"] = folder
        urls = {"SQLite": lambda name: f"sqlite:///{folder}/{name}.db",
                "PostgreSQL": lambda name: pg.create_database(name)}
        if "1" in parts:
            part_writes(urls, args.writes)
        if "2" in parts:
            part_callback(urls, args.calls)
        if "3" in parts:
            part_queries(folder, pg, args.n)


if __name__ == "__main__":
    main()
