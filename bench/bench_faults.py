"""Fault injection: six failures real pipelines hit, under a real Airflow, healed vs Airflow's own retries.

Each fault (``bench/fault_dags/fault_dags.py``) is one task whose failure is decided by state on disk, so a
fix really fixes it. Each runs twice, in two successive ``airflow standalone``s (each in a temporary
AIRFLOW_HOME on loopback, its DAGs triggered together): with the healer (``self_healing(dag)``, the task's
``retries=0``) and with Airflow's ``retries=3`` and no healer (``retry_delay`` 5 s instead of Airflow's
5 minutes, so that the baseline finishes in reasonable time). Per fault and variant it prints: recovered in
the same run (run and faulty task both ``success``), time to recovery (the first failed try's end to the
successful try's end, from the task's tries API), tries used, retries wasted on a permanent error (tries
after the first), the worker-slot seconds the healer task held (its ``healer_stats`` XCom, else
its task instance's running time), and risky actions taken without an approved proposal (from the
healer's store). Permanent faults get proposals that nobody decides; ``[healer] approval_timeout`` is 60 s
so that their runs end. Then one line against the targets.

Usage: python bench/bench_faults.py [--faults network,oom] [--variants healer,retries3] [--timeout 360]
       [--json [FILE]] [--keep]
``--json`` prints one JSON document on stdout instead of the table (``--json FILE`` writes it there and
prints the table too); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from airflow_healer.core.remediate.registry import STRATEGIES
from airflow_healer.standalone import LocalAirflow

DAGS = Path(__file__).resolve().parent / "fault_dags"
# name, what it is, remediable (the healer should recover it in the same run) or permanent.
FAULTS = [
    ("network", "connection reset, once", True),
    ("rate_limit", "429, Retry-After: 5", True),
    ("token", "401 token expired", True),
    ("oom", "MemoryError under 1024 MB", True),
    ("schema", "400 schema mismatch (permanent)", False),
    ("iam", "403 IAM denial (permanent)", False),
]
VARIANTS = ("healer", "retries3")
RISKY = {s.name for s in STRATEGIES if s.risky}  # the strategies a person must approve
NOT_TAKEN = {"proposed", "skipped"}
STALE, FRESH = "stale-token-2025-11", "fresh-token-2026-01"
APPROVAL_TIMEOUT = "60s"
SLOT_LINE = re.compile(r"Held a worker slot for (\d+(?:\.\d+)?)s")  # the healer's last log line
PARALLELISM = 12  # six healer tasks hold a slot each while the retries they clear need six more


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(start: str | None, end: str | None) -> float | None:
    a, b = _when(start), _when(end)
    return (b - a).total_seconds() if a and b else None


def _env(variant: str, work: Path) -> dict[str, str]:
    state = work / "state"
    token = state / variant / "fault_api.token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(FRESH)  # what a Vault agent wrote after the rotation: the API accepts only this one now
    return {
        "FAULT_BENCH_STATE": str(state),
        "FAULT_BENCH_VARIANT": variant,
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__HEALER__STORE_URL": f"sqlite:///{work / variant / 'healer.db'}",
        "AIRFLOW__HEALER__CREDENTIAL_SOURCES": json.dumps({"fault_api": f"file://{token}"}),
        "AIRFLOW__HEALER__APPROVAL_TIMEOUT": APPROVAL_TIMEOUT,
        "AIRFLOW__HEALER__WATCHDOG_INTERVAL": "none",
    }


def run_variant(variant: str, faults: list[str], work: Path, timeout: float) -> dict[str, dict[str, Any]]:
    env = _env(variant, work)
    airflow = LocalAirflow(work / variant / "airflow_home", dags_folder=DAGS, env=env)
    _log(f"[{variant}] starting airflow standalone in {airflow.home} (port {airflow.port})")
    started = time.monotonic()
    try:
        airflow.start()
        _log(f"[{variant}] healthy after {time.monotonic() - started:.0f} s")
        # In the metadata database, with the password from before the rotation: the API can update it there.
        airflow.api("POST", "/api/v2/connections", json={
            "connection_id": "fault_api", "conn_type": "http", "host": "api.partner.example.com",
            "login": "etl", "password": STALE})
        dag_ids = {name: f"fault_{name}_{variant}" for name in faults}
        for dag_id in dag_ids.values():
            airflow.wait_for_dag(dag_id, timeout=180)
        runs = {name: airflow.trigger(dag_id) for name, dag_id in dag_ids.items()}
        states = _wait(airflow, variant, dag_ids, runs, timeout)
        rows = {name: _measure(airflow, dag_ids[name], runs[name], states[name], variant) for name in faults}
        if variant == "healer":
            _add_store_figures(rows, env["AIRFLOW__HEALER__STORE_URL"], dag_ids)
        return rows
    finally:
        _log(f"[{variant}] stopping Airflow")
        airflow.stop()


def _wait(airflow: LocalAirflow, variant: str, dag_ids: dict[str, str], runs: dict[str, str],
          timeout: float) -> dict[str, str]:
    """Every run's final state, or ``timeout (<state>)`` for those still unfinished after ``timeout``."""
    deadline = time.monotonic() + timeout
    begun = time.monotonic()
    states: dict[str, str] = {}
    last_report = 0.0
    while True:
        for name, run_id in runs.items():
            try:
                states[name] = airflow.api("GET", f"/api/v2/dags/{dag_ids[name]}/dagRuns/{quote(run_id, safe='')}")["state"]
            except httpx.HTTPError as exc:  # a busy SQLite metadata DB answers 500 now and then: ask again
                _log(f"[{variant}] {name}: {exc}")
                states.setdefault(name, "queued")
        unfinished = [n for n, s in states.items() if s in ("queued", "running")]
        now = time.monotonic()
        if now - last_report >= 10 or not unfinished:
            last_report = now
            _log(f"[{variant} {now - begun:4.0f}s] " + ", ".join(f"{n}: {s}" for n, s in states.items()))
        if not unfinished:
            return states
        if now > deadline:
            _log(f"[{variant}] timeout after {timeout:.0f} s: {', '.join(unfinished)} still unfinished")
            return {n: (f"timeout ({s})" if n in unfinished else s) for n, s in states.items()}
        time.sleep(2)


def _measure(airflow: LocalAirflow, dag_id: str, run_id: str, run_state: str, variant: str) -> dict[str, Any]:
    tasks = [t["task_id"] for t in airflow.api("GET", f"/api/v2/dags/{dag_id}/tasks")["tasks"]]
    task_id = next(t for t in tasks if t != "healer")
    tries = airflow.task_tries(dag_id, run_id, task_id)
    final = tries[-1]["state"] if tries else None
    first_failed = next((t for t in tries if t["state"] != "success"), None)
    success = next((t for t in tries if t["state"] == "success"), None)
    recovery = (_seconds(first_failed["end_date"], success["end_date"])
                if first_failed and success and first_failed["try_number"] < success["try_number"] else None)
    row: dict[str, Any] = {
        "dag_id": dag_id, "run_id": run_id, "task_id": task_id, "run_state": run_state, "task_state": final,
        "recovered": run_state == "success" and final == "success",
        "recovery_seconds": recovery, "tries": len(tries),
        "try_states": [t["state"] for t in tries],
    }
    if variant == "healer":
        row.update(_healer_slot(airflow, dag_id, run_id))
    return row


def _healer_slot(airflow: LocalAirflow, dag_id: str, run_id: str) -> dict[str, Any]:
    """Seconds the healer task held a worker slot: what its ``healer_stats`` XCom says (pushed at every wait
    and at the end, so a healer that Airflow skipped after the recovery still has it), else what its log
    says, else its task instance's start to end (an upper bound: it includes any time spent deferred)."""
    base = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/healer"
    ti = airflow.api("GET", base)
    found: dict[str, Any] = {"healer_state": ti.get("state")}
    try:
        value = airflow.api("GET", f"{base}/xcomEntries/healer_stats", params={"deserialize": "true"})["value"]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = ast.literal_eval(value)  # the API's stringified form of a dict
        if isinstance(value, dict) and value.get("slot_seconds") is not None:
            return {**found, "healer_slot_seconds": float(value["slot_seconds"]), "healer_slot_source": "xcom"}
    except (httpx.HTTPStatusError, ValueError, SyntaxError):
        pass  # no stats: an older healer that does not report them
    try:
        log = airflow.api("GET", f"{base}/logs/{ti.get('try_number') or 1}", params={"full_content": "true"})
        held = SLOT_LINE.findall(json.dumps(log))
        if held:
            return {**found, "healer_slot_seconds": float(held[-1]), "healer_slot_source": "log"}
    except httpx.HTTPError:
        pass
    return {**found, "healer_slot_seconds": _seconds(ti.get("start_date"), ti.get("end_date")),
            "healer_slot_source": "ti"}


def _add_store_figures(rows: dict[str, dict[str, Any]], store_url: str, dag_ids: dict[str, str]) -> None:
    """What the healer decided and did, from its store: the incident, its actions, and risky actions taken
    without an approved proposal."""
    from airflow_healer.core.store import open_store

    store = open_store(store_url)
    approved = {p["incident_id"] for p in store.list_proposals(limit=10_000) if p["status"] == "approved"}
    undecided = [p for p in store.list_proposals(limit=10_000) if p["status"] in ("pending", "expired")]
    for name, row in rows.items():
        incidents = store.list_incidents(dag_id=dag_ids[name], limit=100)
        actions = [(i, a) for i in incidents for a in i.actions]
        row["incidents"] = [{
            "task_id": i.task_id, "error_type": i.error_type, "confidence": i.confidence, "status": str(i.status),
            "reason": i.reason, "actions": [f"{a.strategy}#{a.attempt}:{a.outcome}" for a in i.actions],
        } for i in incidents]
        row["unapproved_risky"] = sum(1 for i, a in actions if a.strategy in RISKY
                                      and str(a.outcome) not in NOT_TAKEN and i.id not in approved)
        row["proposals_left_pending"] = sum(1 for p in undecided if p["dag_id"] == dag_ids[name])


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    kinds = {name: (what, remediable) for name, what, remediable in FAULTS}
    width = max(len(f"{name}: {what}") for name, what, _ in FAULTS) + 2
    print(f"{'fault':<{width}}{'variant':<10}{'run':<9}{'task':<9}{'same run':>9}{'recovery s':>11}{'tries':>6}"
          f"{'wasted':>7}{'healer slot s':>15}{'risky':>6}")
    for name in next(iter(results.values())):
        for variant, rows in results.items():
            row = rows[name]
            wasted = "-" if kinds[name][1] else str(row["tries"] - 1)
            slot = (f"{_fmt(row['healer_slot_seconds'])} ({row['healer_slot_source']})"
                    if "healer_slot_seconds" in row else "-")
            print(f"{name + ': ' + kinds[name][0]:<{width}}{variant:<10}{row['run_state']:<9}{row['task_state'] or '-':<9}"
                  f"{'yes' if row['recovered'] else 'no':>9}{_fmt(row['recovery_seconds']):>11}{row['tries']:>6}"
                  f"{wasted:>7}{slot:>15}{_fmt(row.get('unapproved_risky'), 'd'):>6}")
    print("same run: the run and the faulty task ended success; recovery s: first failed try's end to the "
          "successful try's end;\ntries: the faulty task's tries in the run; wasted: tries after the first on a "
          "permanent error; risky: risky actions taken without an approved proposal;\nhealer slot s: seconds the "
          "healer task held a worker slot, from (xcom) its healer_stats XCom, (log) its log, (ti) its "
          "task instance's start to end")
    if "healer" in results:
        print("\nwhat the healer did (its store):")
        for name, row in results["healer"].items():
            for i in row.get("incidents", []):
                print(f"  {name}: {i['task_id']} {i['error_type']} ({_fmt(i['confidence'], '.2f')}), actions: "
                      f"{', '.join(i['actions']) or '-'}, status: {i['status']}; healer task ended "
                      f"{row.get('healer_state') or '?'}"
                      + (f"\n      {i['reason'][:220]}" if i["reason"] else ""))
            if row.get("proposals_left_pending"):
                print(f"  {name}: {row['proposals_left_pending']} proposal(s) left undecided (pending or expired), "
                      "as the bench intends")


def summary(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    remediable = [name for name, _, ok in FAULTS if ok]
    permanent = [name for name, _, ok in FAULTS if not ok]
    out: dict[str, Any] = {}
    for variant, rows in results.items():
        fixable = [n for n in remediable if n in rows]
        perm = [n for n in permanent if n in rows]
        out[variant] = {
            "remediable_recovered": sum(rows[n]["recovered"] for n in fixable), "remediable": len(fixable),
            "retries_wasted_on_permanent": sum(rows[n]["tries"] - 1 for n in perm), "permanent": len(perm),
            "unapproved_risky_actions": (sum(rows[n].get("unapproved_risky", 0) for n in rows)
                                         if variant == "healer" else None),
        }
    healer = out.get("healer")
    if healer:
        out["targets_met"] = {
            "every remediable fault recovered in the same run": healer["remediable_recovered"] == healer["remediable"],
            "0 retries wasted on permanent errors": healer["retries_wasted_on_permanent"] == 0,
            "0 unapproved risky actions": healer["unapproved_risky_actions"] == 0,
        }
    return out


def print_summary(figures: dict[str, Any]) -> None:
    for variant in VARIANTS:
        if variant in figures:
            f = figures[variant]
            risky = "" if f["unapproved_risky_actions"] is None else f", {f['unapproved_risky_actions']} unapproved risky action(s)"
            print(f"{variant}: {f['remediable_recovered']} of {f['remediable']} remediable faults recovered in the same run, "
                  f"{f['retries_wasted_on_permanent']} retries wasted on {f['permanent']} permanent error(s){risky}")
    if "targets_met" in figures:
        print("targets (healer): " + "; ".join(f"{what}: {'met' if ok else 'MISSED'}"
                                               for what, ok in figures["targets_met"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(name for name, _, _ in FAULTS), help="comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="healer, retries3, or both")
    parser.add_argument("--timeout", type=float, default=360, help="seconds the runs of one variant may take")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="the figures as one JSON document: on stdout instead of the table, or into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the AIRFLOW_HOMEs (logs, stores) afterwards")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(faults) - {name for name, _, _ in FAULTS} | set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown fault or variant: {', '.join(sorted(unknown))}")

    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    cwd = os.getcwd()
    # `python -m airflow` puts its working directory first on sys.path: started from a checkout, it would
    # import that checkout's airflow_healer instead of the one this process was given.
    os.chdir(work)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for variant in variants:
            results[variant] = run_variant(variant, faults, work, args.timeout)
    finally:
        os.chdir(cwd)
        if args.keep:
            _log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures = summary(results)
    settings = {
        "healer": f"self_healing(dag), task retries=0, [healer] defaults (max_attempts 3, retry_backoff_seconds 5, "
                  f"poll_interval_seconds 3), approval_timeout {APPROVAL_TIMEOUT}, proposals left undecided",
        "retries3": "no healer, retries=3, retry_delay=5 s (Airflow's default is 5 minutes: shortened so the "
                    "baseline finishes in reasonable time)",
    }
    if args.json:
        document = json.dumps({"settings": {v: settings[v] for v in variants}, "parallelism": PARALLELISM,
                               "results": results, "summary": figures}, indent=2, default=str)
        if args.json == "-":
            print(document)
            return
        Path(cwd, args.json).write_text(document + "\n")
    for variant in variants:
        print(f"{variant}: {settings[variant]}")
    print(f"one airflow standalone per variant (LocalExecutor, SQLite, parallelism {PARALLELISM}), its DAGs "
          "triggered together\n")
    print_table(results)
    print()
    print_summary(figures)


if __name__ == "__main__":
    main()
