"""HealerRetryPolicy as a worker runs it: cost of one evaluate() and its decisions on real messages.

Prints the first evaluate() of a process (it loads the model), p50/p99 of one evaluate() after warm-up,
and, for the real-world dev set (if present), the decision for each message tallied per true label:
retried, failed fast, deferred to the task's own retries.
Usage: python bench/bench_retry_policy.py [--dev FILE] [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

PERMANENT = ("authentication_failure", "permission_denied", "schema_mismatch", "data_corruption",
             "missing_dependency", "configuration_error", "disk_space_full", "memory_leak")
RETRYABLE = ("network_timeout", "rate_limiting", "timeout_exceeded", "resource_exhaustion")
WORDS = {"retry": "retried", "fail": "failed fast", "default": "deferred"}


def main() -> None:
    parser = argparse.ArgumentParser()
    default_dev = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld-dev.jsonl"
    parser.add_argument("--dev", default=os.environ.get("HEALER_DEV_SET", str(default_dev)))
    parser.add_argument("--n", type=int, default=1000, help="evaluate() calls timed")
    args = parser.parse_args()
    # A worker's own AIRFLOW_HOME: the store and settings of this machine's ~/airflow stay out of it.
    with tempfile.TemporaryDirectory(prefix="bench-retry-policy-") as home:
        run(args, home)


def run(args: argparse.Namespace, home: str) -> None:
    os.environ["AIRFLOW_HOME"] = home
    os.environ.pop("AIRFLOW_CONFIG", None)
    logging.getLogger("airflow_healer").setLevel(logging.WARNING)  # one INFO line per decision otherwise

    from airflow_healer.retry_policy import HealerRetryPolicy

    policy = HealerRetryPolicy()
    started = time.perf_counter()
    first = policy.evaluate(TimeoutError("Read timed out. (read timeout=30)"), 1, 3)
    print(f"first evaluate() of the process (imports scikit-learn, loads model + seed knowledge + index): "
          f"{time.perf_counter() - started:.2f} s -> {first.action.value}")

    from airflow_healer.core.classify.corpus import generate

    messages = [r["text"] for r in generate(n_per_class=max(1, args.n // 12 + 1), seed=123)][: args.n]
    for text in messages[:50]:
        policy.evaluate(Exception(text), 1, 3)
    timings = []
    for text in messages:
        exc = Exception(text)
        t = time.perf_counter()
        policy.evaluate(exc, 1, 3)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    print(f"one evaluate() after warm-up ({len(timings)} generated messages): p50 {statistics.median(timings):.2f} ms, "
          f"p99 {timings[int(len(timings) * 0.99)]:.2f} ms")

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.retry_policy import exception_text, shared_classifier

    # The same messages through the classifier alone: what the policy adds on top of it.
    classifier = shared_classifier(HealerConfig.load())
    alone = []
    for text in messages:
        probe = exception_text(Exception(text))
        t = time.perf_counter()
        classifier.classify(probe, exception_type="Exception")
        alone.append((time.perf_counter() - t) * 1000)
    print(f"  of which the classifier alone (model + retrieval + evidence): p50 {statistics.median(alone):.2f} ms")

    if not Path(args.dev).is_file():
        print(f"no labelled file at {args.dev}: skipping the decisions on real messages")
        return
    rows = [json.loads(line) for line in Path(args.dev).read_text().splitlines() if line.strip()]
    tally: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        decision = policy.evaluate(Exception(row["text"]), 1, 3)
        tally[row["label"]][WORDS[decision.action.value]] += 1
    print(f"\ndecisions on {Path(args.dev).name} ({len(rows)} real messages, try 1 of 3, default rules):")
    print(f"  {'true label':<24}{'retried':>9}{'failed fast':>13}{'deferred':>10}")
    for label in (*RETRYABLE, *PERMANENT):
        counts = tally.get(label, Counter())
        kind = "retryable" if label in RETRYABLE else "permanent"
        print(f"  {label:<24}{counts['retried']:>9}{counts['failed fast']:>13}{counts['deferred']:>10}   ({kind})")
    permanent = sum(sum(tally[label].values()) for label in PERMANENT)
    retryable = sum(sum(tally[label].values()) for label in RETRYABLE)
    wasted = sum(tally[label]["retried"] for label in PERMANENT)
    fast = sum(tally[label]["failed fast"] for label in PERMANENT)
    retried = sum(tally[label]["retried"] for label in RETRYABLE)
    lost = sum(tally[label]["failed fast"] for label in RETRYABLE)
    deferred = sum(c["deferred"] for c in tally.values())
    print(f"  retries wasted on permanent errors: {wasted} of {permanent}")
    print(f"  permanent errors failed fast:       {fast} of {permanent}")
    print(f"  retryable errors retried:           {retried} of {retryable}")
    print(f"  retryable errors failed fast:       {lost} of {retryable}  (a retry that could have worked, lost)")
    print(f"  deferred to the task's own retries: {deferred} of {len(rows)}")


if __name__ == "__main__":
    main()
