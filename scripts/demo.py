"""The demo: a local Airflow runs example_self_healing (a Python task) and example_bash_self_healing (a Bash
task whose cause is only in its log); each fails once and heals in the same run."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from pathlib import Path

from airflow_healer.standalone import LocalAirflow, free_port

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow-demo"
DEMOS = [
    ("example_self_healing", "extract_orders", "extract_orders times out on its first try"),
    ("example_bash_self_healing", "export_partners",
     "export_partners' curl times out on its first try; the exception only says 'Bash command failed'"),
]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def watch(airflow: LocalAirflow, dag_id: str, task_id: str, blurb: str) -> str:
    """Trigger ``dag_id``, print its task's tries as they end, then its incident; returns the run's state."""
    run_id = airflow.trigger(dag_id)
    print(f"==> triggered {dag_id}, run {run_id}; {blurb} ...", flush=True)
    seen: set[tuple[int, str]] = set()
    deadline = time.monotonic() + 300
    state = "running"
    while state in ("queued", "running") and time.monotonic() < deadline:
        for t in airflow.task_tries(dag_id, run_id, task_id):
            if t["state"] in ("success", "failed") and (t["try_number"], t["state"]) not in seen:
                seen.add((t["try_number"], t["state"]))
                print(f"    {task_id} try {t['try_number']}: {t['state']}", flush=True)
        state = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        time.sleep(1)
    print(f"==> the same run ended: {state.upper()}", flush=True)

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.store import open_store

    store = open_store(HealerConfig.load({"AIRFLOW_HOME": str(HOME)}).store_url)
    for incident in store.list_incidents(dag_id=dag_id, run_id=run_id):
        actions = ", ".join(f"{a.strategy} #{a.attempt} -> {a.outcome}" for a in incident.actions)
        confidence = f"{incident.confidence:.2f}" if incident.confidence is not None else "?"
        print(f"    incident {incident.id[:8]}: {incident.task_id} {incident.error_type} ({confidence}), "
              f"actions: {actions or '-'}, status: {incident.status}")
        for line in incident.log_lines[-3:]:
            print(f"      decided by log line {line['line']}: {line['text'][:110]}")
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="API server port (a free one if it is taken)")
    parser.add_argument("--exit", action="store_true", help="stop Airflow after the demo run instead of waiting")
    args = parser.parse_args()
    port = args.port if port_free(args.port) else free_port()

    airflow = LocalAirflow(
        HOME, dags_folder=ROOT / "dags", plugins_folder=ROOT / "plugins", port=port,
        env={"AIRFLOW__HEALER__RETRY_BACKOFF_SECONDS": "2", "AIRFLOW__HEALER__POLL_INTERVAL_SECONDS": "1"},
    )
    # Ctrl-C (or a TERM) lands here as KeyboardInterrupt, so the finally below stops the whole group.
    # SIGINT explicitly too: a shell that starts us in the background leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"==> starting Airflow (AIRFLOW_HOME={HOME}, log: {airflow.log_path}) ...", flush=True)
        started = time.monotonic()
        airflow.start()
        print(f"==> Airflow is healthy after {time.monotonic() - started:.0f}s at {airflow.base_url}", flush=True)

        states = [watch(airflow, dag_id, task_id, blurb) for dag_id, task_id, blurb in DEMOS]
        state = "success" if all(st == "success" for st in states) else "failed"
        print(f"""
Where to look:
  Airflow UI:   {airflow.base_url}   login: admin / {airflow.password}
  Incidents:    AIRFLOW_HOME={HOME} .venv/bin/airflow-healer incidents list
  Healer page:  {airflow.base_url}/healer/ (logged in; also under Browse > Healer in Airflow's UI)
""", flush=True)
        if args.exit:
            return 0 if state == "success" else 1
        print("Airflow keeps running; press Ctrl-C to stop it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\n==> stopping Airflow ...", flush=True)
        return 0
    finally:
        airflow.stop()
        print("==> stopped every process the demo started.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
