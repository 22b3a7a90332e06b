"""One watchdog cycle against an in-memory Airflow API: what it records, classifies, skips and heals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.types import IncidentStatus, Outcome
from airflow_healer.core.watchdog import NEVER_RAN, SET_FROM_OUTSIDE, Watchdog, read_state
from airflow_healer.exceptions import AirflowApiError, RunNotFound

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def iso(minutes_ago: float) -> str:
    """As Airflow's API writes times (and the watchdog its watermark): microseconds, Z."""
    return (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ti(dag_id, task_id="t", *, minutes_ago=5.0, try_number=1, operator="BashOperator", started=True):
    return {"dag_id": dag_id, "task_id": task_id, "dag_run_id": "run1", "map_index": -1, "try_number": try_number,
            "state": "failed", "operator": operator, "hostname": "worker-1",
            "start_date": iso(minutes_ago + 1) if started else None, "end_date": iso(minutes_ago)}


def bash_log(line: str) -> list[dict]:
    hook = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
    return [
        {"event": "DAG bundles loaded: dags-folder", "level": "info", "logger": "airflow.dag_processing"},
        {"event": "Output:", "level": "info", "logger": hook},
        {"event": line, "level": "info", "logger": hook},
        {"event": "Command exited with return code 1", "level": "info", "logger": hook},
        {"event": "Task failed with exception", "level": "error", "logger": "task", "error_detail": [
            {"exc_type": "AirflowException", "exc_value": "Bash command failed. The command returned a non-zero "
             "exit code 1.", "frames": [], "is_cause": False}]},
    ]


KILLED = [
    {"event": "about to load everything", "level": "info", "logger": "task.stdout"},
    {"event": "Process terminated by signal. Likely out of memory error (OOM).", "level": "critical",
     "signal": -9, "signal_name": "SIGKILL", "logger": "task"},
]


class FakeApi:
    def __init__(self, failed, logs=None, successes=None):
        self.failed = failed
        self.logs = logs or {}
        self.successes = successes or []
        self.pages: list[tuple[str, str, int, int]] = []
        self.cleared: list[tuple[str, list]] = []
        self.states: dict[tuple[str, str], str] = {}

    def failed_task_instances(self, *, since, until, limit=100, offset=0, inclusive=False):
        self.pages.append((since, until, limit, offset))
        after = (lambda t: since <= t["end_date"]) if inclusive else (lambda t: since < t["end_date"])
        match = sorted((t for t in self.failed if after(t) and t["end_date"] <= until), key=lambda t: t["end_date"])
        return {"task_instances": match[offset:offset + limit], "total_entries": len(match)}

    def successful_task_instances(self, *, since, limit=20):
        return self.successes[:limit]

    def task_log(self, dag_id, run_id, task_id, try_number, map_index=-1):
        key = (dag_id, task_id, try_number)
        if key not in self.logs:
            raise RunNotFound(f"GET .../{task_id}/logs/{try_number}: not found", 404)
        if isinstance(self.logs[key], Exception):
            raise self.logs[key]
        return self.logs[key]

    def task_instances(self, dag_id, run_id):
        return [{"task_id": t, "map_index": -1, "state": s, "try_number": 2}
                for (d, t), s in self.states.items() if d == dag_id]

    def clear(self, dag_id, run_id, task_ids, *, note="", reset_dag_runs=False):
        assert reset_dag_runs, "a finished run must be reset to queued for the cleared task to run"
        self.cleared.append((dag_id, task_ids))
        return [{"task_id": task_ids[0]}]


@pytest.fixture
def healer(config, store):
    return Healer(config.replace(watchdog_settle_seconds=30), store=store)


def cycle(healer, api, now=NOW, **config):
    if config:
        healer = Healer(healer.config.replace(**config), store=healer.store)
    return Watchdog(healer, api, now=lambda: now).cycle()


def test_an_unwired_dags_failure_is_recorded_and_classified_from_its_log(healer, store):
    api = FakeApi([ti("sales")], {("sales", "t", 1): bash_log(
        "google.api_core.exceptions.Forbidden: 403 Access Denied: Table p:d.orders: User does not have "
        "permission to query table p:d.orders.")})
    report = cycle(healer, api)
    assert (report.seen, report.recorded, report.classified) == (1, 1, {"permission_denied": 1})
    incident = store.find_incident("sales", "run1", "t")
    assert incident.failures[0].source == "watchdog"
    assert incident.error_type.value == "permission_denied"
    assert [line["why"] for line in incident.log_lines] == ["exception"]
    assert incident.status is IncidentStatus.OPEN and "does not heal sales" in incident.reason


def test_a_try_a_callback_recorded_is_not_recorded_twice(healer, store):
    store.record_failure(make_failure(dag_id="etl", task_id="t", run_id="run1", message="Read timed out"))
    api = FakeApi([ti("etl")], {("etl", "t", 1): bash_log("x")})
    report = cycle(healer, api)
    assert (report.recorded, report.already_recorded) == (0, 1)
    [failure] = store.find_incident("etl", "run1", "t").failures
    assert failure.source == "callback"


def test_a_sigkilled_task_gets_an_incident_that_says_so(healer, store):
    report = cycle(healer, FakeApi([ti("etl", operator="_PythonDecoratedOperator")], {("etl", "t", 1): KILLED}))
    incident = store.find_incident("etl", "run1", "t")
    assert report.killed == 1
    assert incident.message.startswith("Task killed by SIGKILL")
    assert "return code -9" in incident.log_note
    assert incident.error_type.value in ("memory_leak", "resource_exhaustion")


def test_a_state_set_by_hand_says_so(healer, store):
    quiet = [{"event": "working", "level": "info", "logger": "task.stdout"}]
    cycle(healer, FakeApi([ti("a"), ti("b", started=False)], {("a", "t", 1): quiet}))
    assert store.find_incident("a", "run1", "t").message == SET_FROM_OUTSIDE
    never = store.find_incident("b", "run1", "t")
    assert never.message == NEVER_RAN and "never started" in never.log_note


def test_an_unreadable_log_leaves_a_note_and_the_cycle_goes_on(healer, store):
    api = FakeApi([ti("a", minutes_ago=6), ti("b")], {
        ("a", "t", 1): AirflowApiError("GET .../logs/1 failed with 503: remote log store down", 503),
        ("b", "t", 1): bash_log("curl: (28) Failed to connect to x port 443 after 130002 ms: Connection timed out")})
    report = cycle(healer, api)
    assert report.errors == [] and report.unreadable_logs == 1 and report.recorded == 2
    assert "could not be read" in store.find_incident("a", "run1", "t").log_note
    assert store.find_incident("b", "run1", "t").error_type.value == "network_timeout"


def test_patterns_and_the_healers_own_tasks(healer, store):
    api = FakeApi([ti("etl_orders"), ti("tmp_scratch"), ti("other"), ti("etl_x", "healer", operator="HealOperator")])
    report = cycle(healer, api, watchdog_include="etl_*,tmp_*", watchdog_exclude="tmp_*")
    assert (report.recorded, report.excluded) == (1, 3)
    assert [i.dag_id for i in store.list_incidents()] == ["etl_orders"]


def test_the_watermark_moves_and_the_first_cycle_looks_back(healer, store):
    api = FakeApi([ti("old", minutes_ago=60 * 30), ti("recent", minutes_ago=60), ti("fresh", minutes_ago=0.2)])
    first = cycle(healer, api)
    assert api.pages[0][0] == iso(60 * 24)  # watchdog_lookback: a day
    assert first.recorded == 1  # "old" is before the lookback, "fresh" younger than the settle time
    assert read_state(store)["watermark"] == first.until == iso(0.5)
    api.failed.append(ti("later", minutes_ago=0.4))
    second = cycle(healer, api, now=NOW + timedelta(minutes=1))
    assert second.since == first.until
    assert sorted(i.dag_id for i in store.list_incidents()) == ["fresh", "later", "recent"]  # nothing twice


def test_a_cycle_is_bounded_and_the_rest_waits(healer, store):
    api = FakeApi([ti(f"dag{i:03d}", minutes_ago=100 - i) for i in range(25)])
    first = cycle(healer, api, watchdog_max_per_cycle=10)
    assert (first.seen, first.more) == (10, True)
    assert first.watermark == iso(100 - 9)  # the end of the last one handled
    second = cycle(healer, api, watchdog_max_per_cycle=100)
    # It starts at the watermark (failures may share that end_date): the one there is seen, not recorded again.
    assert (second.seen, second.recorded, second.already_recorded, second.more) == (16, 15, 1, False)
    assert len(store.list_incidents(limit=100)) == 25


def test_configured_dags_are_retried_and_the_outcome_checked_next_cycle(healer, store):
    curl = "curl: (28) Failed to connect to x port 443 after 130002 ms: Connection timed out"
    api = FakeApi([ti("etl")], {("etl", "t", 1): bash_log(curl)})
    first = cycle(healer, api, watchdog_heal="etl")
    assert first.retried == ["etl.t"] and api.cleared == [("etl", ["t"])]
    assert store.find_incident("etl", "run1", "t").status is IncidentStatus.HEALING
    api.states[("etl", "t")] = "success"
    second = cycle(healer, api, watchdog_heal="etl")
    assert second.outcomes == {"success": 1}
    incident = store.find_incident("etl", "run1", "t")
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("retry", Outcome.SUCCESS)]


def test_boilerplate_is_learnt_from_successful_logs(healer, store):
    success = {"dag_id": "etl", "task_id": "ok", "dag_run_id": "r", "try_number": 1, "map_index": -1}
    lines = [{"event": f"Warehouse session {n} opened for job etl_{n}", "level": "info"} for n in range(3)]
    api = FakeApi([], {("etl", "ok", 1): lines}, successes=[success])
    report = cycle(healer, api)
    assert report.learnt_templates == 1
    again = Healer(healer.config, store=store)  # a new process reads what was learnt from the store
    assert again.miner.matches("Warehouse session 77 opened for job etl_77")


def test_failures_that_share_an_end_date_are_not_lost_at_the_bound(healer, store):
    """A whole run marked failed at once: many failures with one end_date, more than one cycle takes."""
    tied = [ti(f"dag{i}", minutes_ago=5) for i in range(5)]
    api = FakeApi(tied)
    first = cycle(healer, api, watchdog_max_per_cycle=3)
    assert (first.recorded, first.more) == (3, True)
    assert read_state(store)["inclusive"] is True
    second = cycle(healer, api, watchdog_max_per_cycle=3)
    assert (second.recorded, second.already_recorded, second.more) == (2, 3, False)
    assert len(store.list_incidents(limit=100)) == 5
    assert read_state(store)["inclusive"] is False


def test_one_unreadable_successful_log_does_not_stop_the_learning(healer, store):
    ok = [{"dag_id": "etl", "task_id": name, "dag_run_id": "r", "try_number": 1, "map_index": -1}
          for name in ("gone", "ok")]
    lines = [{"event": f"Warehouse session {n} opened for job etl_{n}", "level": "info"} for n in range(3)]
    report = cycle(healer, FakeApi([], {("etl", "ok", 1): lines}, successes=ok))  # "gone" answers 404
    assert report.learnt_templates == 1


def test_a_killed_tasks_chatter_does_not_decide_its_type(healer, store):
    chatter = [{"event": line, "level": "info", "logger": "task.stdout"}
               for line in ("Loading config for environment prod", "Connecting to warehouse")]
    exited = {"event": "Process exited", "exit_code": -9, "signal_sent": "SIGKILL", "logger": "supervisor"}
    cycle(healer, FakeApi([ti("etl")], {("etl", "t", 1): [*chatter, exited]}))
    incident = store.find_incident("etl", "run1", "t")
    assert incident.message.startswith("Task killed by SIGKILL")
    assert incident.error_type.value in ("memory_leak", "resource_exhaustion", "unknown")
    assert not any("Loading config" in e for e in incident.evidence)


def test_a_cause_printed_by_a_command_is_not_taken_for_a_state_set_from_outside(healer, store):
    curl = "curl: (28) Failed to connect to api.x.com port 443 after 130002 ms: Connection timed out"
    cycle(healer, FakeApi([ti("export")], {("export", "t", 1): bash_log(curl)}))
    incident = store.find_incident("export", "run1", "t")
    assert incident.message != SET_FROM_OUTSIDE
    assert incident.error_type.value == "network_timeout"
    assert [line["text"] for line in incident.log_lines] == [curl]


def python_log(exc_type: str, exc_value: str) -> list[dict]:
    return [{"event": "Task failed with exception", "level": "error", "logger": "task", "error_detail": [
        {"exc_type": exc_type, "exc_value": exc_value, "frames": [], "is_cause": False}]}]


def test_a_configured_dag_is_rescaled_one_rung_with_the_action_stored_before_the_clear(healer, store):
    store.record_tier("etl", "run1", "t", -1, 1, "memory_mb", [512, 1024, 2048], 0)
    api = FakeApi([ti("etl", operator="_PythonDecoratedOperator")],
                  {("etl", "t", 1): python_log("MemoryError", "Unable to allocate 1.50 GiB for an array with shape "
                                                              "(201326592,) and data type float64")})
    cleared_with = []
    clear = api.clear
    api.clear = lambda *a, **k: cleared_with.append([x.strategy for x in store.find_incident(
        "etl", "run1", "t").actions]) or clear(*a, **k)
    report = cycle(healer, api, watchdog_heal="etl")
    assert report.retried == ["etl.t"] and cleared_with == [["rescale"]]
    [action] = store.find_incident("etl", "run1", "t").actions
    assert (action.strategy, action.outcome) == ("rescale", Outcome.PENDING)
    assert action.detail.startswith("memory_mb 512 -> 1024")


def test_a_configured_dag_gets_its_connection_refreshed_then_retried(healer, store, tmp_path):
    secret = tmp_path / "warehouse"
    secret.write_text("fresh-password\n")
    failed = {**ti("etl", operator="SQLExecuteQueryOperator"),
              "rendered_fields": {"sql": "SELECT 1", "conn_id": "warehouse", "hook_params": {}}}
    api = FakeApi([failed], {("etl", "t", 1): python_log(
        "psycopg2.OperationalError", 'connection to server at "10.0.0.5", port 5432 failed: FATAL:  password '
        'authentication failed for user "etl"')})
    api.updated = []
    api.update_connection = lambda conn_id, fields: api.updated.append((conn_id, fields)) or {}
    report = cycle(healer, api, watchdog_heal="etl", credential_sources=json.dumps({"warehouse": f"file://{secret}"}))
    assert report.retried == ["etl.t"] and api.updated == [("warehouse", {"password": "fresh-password"})]
    assert api.cleared == [("etl", ["t"])]
    assert [a.strategy for a in store.find_incident("etl", "run1", "t").actions] == ["refresh_credentials"]


def test_a_try_another_healer_acted_on_is_left_alone(healer, store):
    curl = "curl: (28) Failed to connect to x port 443 after 130002 ms: Connection timed out"
    assert store.act_once("etl", "run1", "t", -1, 1, actor="healer_remediate:ana", strategy="retry")
    api = FakeApi([ti("etl")], {("etl", "t", 1): bash_log(curl)})
    report = cycle(healer, api, watchdog_heal="etl")
    assert report.retried == [] and api.cleared == []


def test_a_risky_fix_in_a_configured_dag_opens_a_proposal_that_says_how_to_carry_it_out(healer, store):
    forbidden = ("google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme:sales.orders: Permission "
                 "bigquery.tables.getData denied on table acme:sales.orders (or it may not exist).")
    api = FakeApi([ti("etl", operator="BigQueryInsertJobOperator")],
                  {("etl", "t", 1): python_log("google.api_core.exceptions.Forbidden", forbidden)})
    report = cycle(healer, api, watchdog_heal="etl")
    assert report.retried == [] and api.cleared == []
    [proposal] = store.list_proposals(status="pending")
    assert (proposal["strategy"], proposal["waiter"]) == ("grant_permission", "")
    assert proposal["content"]["role"] == "roles/bigquery.dataViewer"
    incident = store.find_incident("etl", "run1", "t")
    assert f"healer_remediate with proposal_id={proposal['id']}" in incident.reason
