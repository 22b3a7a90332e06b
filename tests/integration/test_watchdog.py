"""The watchdog DAG on a real Airflow: failures no callback saw get incidents, classified from their logs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_healer.core.store import open_store
from tests.integration.test_self_healing import incidents

pytestmark = pytest.mark.integration

UNWIRED = ("it_unwired", "it_killed", "it_lost_log")


@pytest.fixture(scope="module")
def watchdog(airflow, runs):
    """The unwired DAGs fail (one log is then lost), then one watchdog run: {dag_id: incident}."""
    run_ids = {dag_id: airflow.trigger(dag_id) for dag_id in UNWIRED}
    states = {dag_id: airflow.wait_for_run(dag_id, run_id, timeout=300) for dag_id, run_id in run_ids.items()}
    assert states == dict.fromkeys(UNWIRED, "failed")
    for log in Path(airflow.home, "logs", "dag_id=it_lost_log").rglob("attempt=*.log"):
        log.unlink()  # as when a worker's disk is gone and no remote logging was set up
    time.sleep(4)  # past [healer] watchdog_settle_seconds
    run_id = airflow.trigger("healer_watchdog")
    assert airflow.wait_for_run("healer_watchdog", run_id, timeout=300) == "success"
    tries = airflow.task_tries("healer_watchdog", run_id, "record_failures")
    assert tries[-1]["state"] == "success"
    found = {}
    for dag_id in UNWIRED:
        [incident] = incidents(airflow, dag_id)
        found[dag_id] = incident
    return found


def test_a_failure_in_a_dag_with_no_healer_wiring_is_classified_from_its_log(watchdog):
    incident = watchdog["it_unwired"]
    assert incident["failures"][0]["source"] == "watchdog"
    assert incident["error_type"] == "permission_denied"
    located = [line["text"] for line in incident["log_lines"]]
    assert any("403 Access Denied" in text for text in located)
    assert any(e.startswith("log line") and "403 Access Denied" in e for e in incident["evidence"])
    assert "recorded by the watchdog" in incident["reason"]


def test_a_task_killed_by_sigkill_gets_an_incident_that_says_so(watchdog):
    incident = watchdog["it_killed"]
    assert incident["failures"][0]["source"] == "watchdog"
    assert "SIGKILL" in incident["message"] and "SIGKILL" in incident["log_note"]
    assert "-9" in incident["log_note"]  # the supervisor's return code is evidence
    assert incident["error_type"] is not None


def test_a_log_that_cannot_be_read_leaves_a_note_not_a_crash(watchdog):
    incident = watchdog["it_lost_log"]
    assert incident["failures"][0]["source"] == "watchdog"
    assert "could not be read" in incident["log_note"]
    assert "no error in its log" not in incident["message"]  # a lost log is not a silent one
    assert incident["error_type"] is not None


def test_the_watchdog_does_not_duplicate_what_callbacks_recorded(airflow, runs, watchdog):
    for dag_id in ("example_self_healing", "example_always_failing", "example_bash_self_healing",
                   "it_wired_lost_log", "example_rescale", "it_ceiling", "it_refresh", "it_approved", "it_rejected"):
        [incident] = incidents(airflow, dag_id)  # not the healer task's own failure either
        assert {f["source"] for f in incident["failures"]} == {"callback"}
    store = open_store(f"sqlite:///{airflow.home / 'healer.db'}")
    watchdog_failures = [e for e in store.ledger(limit=10_000)
                         if e["kind"] == "failure" and e["payload"]["source"] == "watchdog"]
    # The unwired DAGs' failures, and the one the retry policy failed fast (a DAG with no healer wiring too).
    assert sorted(e["payload"]["task"].split(".")[0] for e in watchdog_failures) == sorted(
        [*UNWIRED, "it_retry_policy"])


def test_a_second_watchdog_run_finds_nothing_new(airflow, watchdog):
    from airflow_healer.core.watchdog import read_state

    store = open_store(f"sqlite:///{airflow.home / 'healer.db'}")
    first = read_state(store)
    assert first["last_report"]["recorded"] == len(UNWIRED) + 1  # + it_retry_policy's query_forbidden
    assert first["last_report"]["errors"] == []
    run_id = airflow.trigger("healer_watchdog")

    def states():
        return {t["task_id"]: t["state"] for t in airflow.api(
            "GET", f"/api/v2/dags/healer_watchdog/dagRuns/{run_id}/taskInstances")["task_instances"]}

    # Nothing failed since the watermark: the sensor waits in the triggerer (no worker slot) ...
    deadline = time.monotonic() + 60
    while states()["wait_for_failures"] != "deferred" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert states()["wait_for_failures"] == "deferred"
    # ... and a run triggered by hand gives up after [healer] watchdog_manual_wait_seconds, skipping.
    assert airflow.wait_for_run("healer_watchdog", run_id, timeout=120) == "success"
    assert states() == {"wait_for_failures": "skipped", "record_failures": "skipped"}
    assert read_state(store)["watermark"] == first["watermark"]
