"""Import cost of what a DAG file imports from airflow_healer, in fresh interpreters.

Prints the median time `import airflow_healer` + the callback add over `import airflow.sdk`, and
which heavy libraries (sklearn, pandas, scipy, google.cloud.*) got loaded (should be none).
Usage: python bench/bench_import.py [runs]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
import airflow_healer
from airflow_healer import on_failure_callback, self_healing, HealerNotifier
t2 = time.perf_counter()
new = set(sys.modules) - before
t3 = time.perf_counter()
before_watchdog = set(sys.modules)
from airflow_healer.watchdog import healer_watchdog_dag
healer_watchdog_dag()
t4 = time.perf_counter()
new |= set(sys.modules) - before_watchdog
heavy = sorted(m for m in new if m.split('.')[0] in ('sklearn', 'pandas', 'scipy') or m.startswith('google.cloud.'))
print(json.dumps({"sdk": t1 - t0, "healer": t2 - t1, "watchdog": t4 - t3, "heavy": heavy, "modules": len(new)}))
"""


def main(runs: int = 9) -> None:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    sdk = statistics.median(r["sdk"] for r in results) * 1000
    healer = sorted(r["healer"] * 1000 for r in results)
    print(f"runs: {runs} fresh interpreters")
    print(f"import airflow.sdk:                                   median {sdk:7.1f} ms")
    print(f"airflow_healer + callback + self_healing on top of it: median {statistics.median(healer):7.1f} ms "
          f"(min {healer[0]:.1f}, max {healer[-1]:.1f}; target < 50 ms)")
    watchdog = statistics.median(r["watchdog"] for r in results) * 1000
    print(f"the watchdog DAG file (healer_watchdog_dag()) on top of that:   median {watchdog:7.1f} ms")
    print(f"modules they add: {results[0]['modules']}; heavy modules loaded: {results[0]['heavy'] or 'none'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
