"""Figures of error localisation in task logs: its cost, and what it does for the classifier.

1. ``read_tail`` + ``locate`` of an Airflow 3 JSON-lines log file of 10 KB, 1 MB and 50 MB (a chatty
   BashOperator whose command failed at the end): median time of several runs, and the peak memory
   (tracemalloc) of the 50 MB case.
2. The classifier's macro-F1 on the real-world dev set, bare and with each message inside each log
   shape of ``bench/logshaped.py``, passed whole as the row's text (``classify_batch`` localises a
   log-shaped text itself, as it does for a user); with the number escalated as ``unknown``.

Usage: python bench/bench_logs.py [--dev FILE] [--runs 7]

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as bench_rag.py measures
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # logshaped.py sits beside this file

HOOK = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
CURL = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"
SIZES = [("10 KB", 10 * 1024), ("1 MB", 1024 * 1024), ("50 MB", 50 * 1024 * 1024)]


def _event(i: int, text: str, level: str = "info", logger: str = HOOK, **fields: object) -> str:
    return json.dumps({
        "timestamp": f"2026-12-01T23:{i // 3600 % 60:02d}:{i // 60 % 60:02d}.{i % 1000000:06d}Z", "level": level,
        "event": text, "ti_id": "0193a6c4-5b2e-7c4d-9f1a-2b3c4d5e6f70", "dag_id": "export_partners",
        "run_id": "scheduled__2026-12-01T00:00:00+00:00", "logger": logger, "filename": "subprocess.py",
        "lineno": 97, **fields})


def write_log(path: Path, size: int) -> None:
    """An Airflow 3 task log of about ``size`` bytes: setup, the command's output, then its failure."""
    head = [
        _event(0, "::group::Pre Execute", logger="task"),
        _event(1, "DAG bundles loaded: dags-folder", logger="airflow.dag_processing.bundles.manager.DagBundlesManager"),
        _event(2, "Filling up the DagBag from /opt/airflow/dags/export_partners.py",
               logger="airflow.dag_processing.dagbag.BundleDagBag"),
        _event(3, "Worker startup parse complete", logger="task"),
        _event(4, "::endgroup::", logger="task"),
        _event(5, "Tmp dir root location: /tmp"),
        _event(6, "Running command: ['/usr/bin/bash', '-c', './export.sh --partner acme']"),
        _event(7, "Output:"),
    ]
    tail = [
        _event(10**6, CURL),
        _event(10**6 + 1, "Command exited with return code 28"),
        _event(10**6 + 2, "Task failed with exception", "error", "task", error_detail=[{
            "exc_type": "AirflowException", "exc_value": "Bash command failed. The command returned a non-zero exit "
            "code 28.", "exc_notes": [], "syntax_error": None, "is_cause": False, "is_group": False, "exceptions": [],
            "frames": [{"filename": "/usr/local/lib/python3.12/site-packages/airflow/sdk/execution_time/"
                                    "task_runner.py", "lineno": 1579, "name": "run"}]}]),
        _event(10**6 + 3, "::group::Post Execute", logger="task"),
        _event(10**6 + 4, "::endgroup::", logger="task"),
    ]
    progress = ["exporting customers page {i} ({n} rows)", "uploaded part-{i:05d}.csv.gz ({n} bytes)",
                "progress: {i} pages, {n} rows so far", "fetching https://api.partner-exports.com/v2/orders?page={i}"]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(head) + "\n")
        i, budget = 8, size - sum(len(line) + 1 for line in tail)
        while fh.tell() < budget:
            fh.write(_event(i, progress[i % 4].format(i=i, n=i * 7919 % 100000)) + "\n")
            i += 1
        fh.write("\n".join(tail) + "\n")


def localisation(runs: int) -> None:
    from airflow_healer.core.logs import locate, read_tail

    with tempfile.TemporaryDirectory() as tmp:
        locate(CURL)  # the shipped templates are mined once per process; not part of a call's cost
        for name, size in SIZES:
            path = Path(tmp) / f"attempt=1-{name.replace(' ', '')}.log"
            write_log(path, size)
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                located = locate(read_tail(path))
                timings.append((time.perf_counter() - started) * 1000)
            peak = ""
            if size >= 50 * 1024 * 1024:
                tracemalloc.start()
                locate(read_tail(path))
                peak = f", peak memory {tracemalloc.get_traced_memory()[1] / 1024 / 1024:.1f} MB (tracemalloc)"
                tracemalloc.stop()
            print(f"localise {name} log ({path.stat().st_size / 1024:,.0f} KB on disk, {located.total_lines} lines "
                  f"read): median {statistics.median(timings):.1f} ms of {runs} runs "
                  f"(min {min(timings):.1f}, max {max(timings):.1f}){peak}")
            print(f"    kept {[f'{line.text[:90]} ({line.why})' for line in located.lines]} "
                  f"(return code {located.return_code}, "
                  f"{located.boilerplate} boilerplate lines dropped)")


def quality(dev: Path) -> None:
    if not dev.is_file():
        print(f"no labelled file at {dev}: skipping the classifier figures")
        return
    from logshaped import SHAPES, make_log

    from airflow_healer.core.classify import get_classifier
    from airflow_healer.core.classify.evaluate import evaluate
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.types import ErrorType

    rag = get_classifier(HealerConfig(store_url="sqlite:////nonexistent/unused.db"), store=None)
    rows = [json.loads(line) for line in dev.read_text().splitlines() if line.strip()]
    labels = [t.value for t in ErrorType.known()]
    print(f"classifier on {dev.name} (n={len(rows)}), each message bare and inside each log shape:")
    print(f"    {'shape':<20}{'macro-F1':>9}{'unambig.':>10}{'accuracy':>10}{'unknown':>9}{'ms/row':>8}")
    for shape in [None, *sorted(SHAPES)]:
        batch = [dict(r, text=r["text"] if shape is None else make_log(r["text"], seed=i, shape=shape)[1])
                 for i, r in enumerate(rows)]
        started = time.perf_counter()
        predictions = [(c.error_type.value, c.confidence) for c in rag.classify_batch(batch, evidence=False)]
        elapsed = (time.perf_counter() - started) * 1000 / len(batch)
        report = evaluate(lambda texts, p=predictions: p, batch, labels=labels)
        unknown = sum(1 for label, _ in predictions if label == ErrorType.UNKNOWN.value)
        print(f"    {shape or 'bare message':<20}{report['all']['macro_f1']:>9.3f}"
              f"{report['unambiguous']['macro_f1']:>10.3f}{report['all']['accuracy']:>10.3f}"
              f"{unknown:>9}{elapsed:>8.2f}")
    print("    (a log without localisation is not measured: classify_batch always localises log-shaped text)")


def main() -> None:
    parser = argparse.ArgumentParser()
    default_dev = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld-dev.jsonl"
    parser.add_argument("--dev", default=os.environ.get("HEALER_DEV_SET", str(default_dev)))
    parser.add_argument("--runs", type=int, default=7, help="timed runs per log size")
    args = parser.parse_args()
    localisation(args.runs)
    quality(Path(args.dev))


if __name__ == "__main__":
    main()
