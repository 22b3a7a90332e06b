"""Time for the failure callback to record one incident on the embedded SQLite store.

Calls the real `on_failure_callback` with a task-like context (a new try each call, so every call
writes), alone and with other processes writing at the same time. Prints p50/p99 (target p99 < 50 ms).
Usage: python bench/bench_callback.py [calls]
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace


def _context(n: int, worker: int) -> dict:
    try:
        raise TimeoutError(f"HTTPSConnectionPool(host='api.example.com', port=443): Read timed out. (read timeout={n})")
    except TimeoutError as exc:
        error = exc
    ti = SimpleNamespace(dag_id="bench", task_id=f"task_{worker}", run_id=f"run_{n // 5}", map_index=-1,
                         try_number=n % 5 + 1, start_date=None, hostname="bench")
    return {"ti": ti, "task": SimpleNamespace(task_type="PythonOperator"), "exception": error}


def _run(calls: int, worker: int, out) -> None:
    import logging

    from airflow_healer import on_failure_callback

    logging.getLogger("airflow_healer").setLevel(logging.WARNING)  # one log line a call drowns the figures

    timings = []
    for n in range(calls):
        context = _context(n, worker)
        started = time.perf_counter()
        on_failure_callback(context)
        timings.append(time.perf_counter() - started)
    out.put(timings)


def _report(label: str, timings: list[float]) -> None:
    ms = sorted(t * 1000 for t in timings)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{label:<34} n={len(ms):5d}  p50 {statistics.median(ms):6.2f} ms  p99 {p99:6.2f} ms  max {ms[-1]:6.2f} ms")


def main(calls: int = 400) -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["AIRFLOW_HOME"] = home
        ctx = multiprocessing.get_context("spawn")
        for writers in (1, 4):
            queue = ctx.Queue()
            procs = [ctx.Process(target=_run, args=(calls, w + 10 * writers, queue)) for w in range(writers)]
            for p in procs:
                p.start()
            timings = [t for _ in procs for t in queue.get()]
            for p in procs:
                p.join()
            _report(f"{writers} process(es) writing at once", timings)
        from airflow_healer.core.store.sqlite import SQLiteStore

        total = len(SQLiteStore(os.path.join(home, "healer.db")).list_incidents(limit=1_000_000))
        print(f"incidents in the store afterwards: {total} (every call recorded)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
