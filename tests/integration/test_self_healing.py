"""End to end on a real Airflow: a failing task heals in the same DAG run, or the run tells the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pendulum
import pytest

from airflow_healer.core.store import open_store
from tests.integration.conftest import MAX_ATTEMPTS

pytestmark = pytest.mark.integration


def incidents(airflow, dag_id):
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow-healer"), "incidents", "list", "--format", "json",
         "--dag-id", dag_id],
        capture_output=True, text=True, check=True, env={**airflow.env},
    ).stdout
    return json.loads(out)


def test_the_same_run_ends_success_after_the_healer_retried(airflow, runs):
    run_id, state = runs["example_self_healing"]
    assert state == "success"
    tries = airflow.task_tries("example_self_healing", run_id, "extract_orders")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    load = airflow.task_tries("example_self_healing", run_id, "load_orders")
    assert load[-1]["state"] == "success"

    [incident] = incidents(airflow, "example_self_healing")
    assert (incident["run_id"], incident["task_id"]) == (run_id, "extract_orders")
    assert incident["error_type"] == "network_timeout"
    assert incident["status"] == "recovered"
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("retry", "success")]
    assert incident["failures"][0]["exception_type"] == "TimeoutError"
    assert incident["failures"][0]["operator"] == "_PythonDecoratedOperator"
    assert incident["failures"][0]["source"] == "callback"

    # The healer learnt from it: the next similar error finds this incident in the knowledge base.
    learnt = [r for r in open_store(f"sqlite:///{airflow.home / 'healer.db'}").list_knowledge()
              if r["source"] == f"incident:{incident['id']}"]
    assert [(r["error_type"], r["strategy"], r["success_count"]) for r in learnt] == [("network_timeout", "retry", 1)]


def test_a_task_that_always_fails_leaves_the_run_failed(airflow, runs):
    run_id, state = runs["example_always_failing"]
    assert state == "failed"
    tries = airflow.task_tries("example_always_failing", run_id, "call_partner_api")
    assert [t["state"] for t in tries] == ["failed"] * (MAX_ATTEMPTS + 1)
    healer = airflow.task_tries("example_always_failing", run_id, "healer")
    assert healer[-1]["state"] == "failed"

    [incident] = incidents(airflow, "example_always_failing")
    assert incident["status"] == "not_recovered"
    assert f"max_attempts={MAX_ATTEMPTS}" in incident["reason"]
    assert [a["outcome"] for a in incident["actions"]] == ["failed"] * MAX_ATTEMPTS
    assert [f["try_number"] for f in incident["failures"]] == list(range(1, MAX_ATTEMPTS + 2))


def test_the_healer_api_needs_airflow_login(airflow, runs):
    anonymous = httpx.get(f"{airflow.base_url}/healer/api/incidents")
    assert anonymous.status_code in (401, 403)
    body = airflow.api("GET", "/healer/api/incidents")
    assert {i["dag_id"] for i in body["incidents"]} >= {"example_self_healing", "example_always_failing"}
    one = body["incidents"][0]
    assert airflow.api("GET", f"/healer/api/incidents/{one['id']}")["id"] == one["id"]


def test_a_bash_tasks_transient_failure_is_read_from_its_log_and_healed(airflow, runs):
    run_id, state = runs["example_bash_self_healing"]
    assert state == "success"
    tries = airflow.task_tries("example_bash_self_healing", run_id, "export_partners")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]

    [incident] = incidents(airflow, "example_bash_self_healing")
    assert incident["exception_type"] == "AirflowException"
    assert "Bash command failed" in incident["message"]  # the exception names no cause ...
    assert incident["error_type"] == "network_timeout"  # ... the log does
    assert incident["status"] == "recovered"
    located = [line["text"] for line in incident["log_lines"]]
    assert any(text.startswith("curl: (28) Failed to connect") for text in located)
    assert not any("Bash command failed" in text or "DagBag" in text for text in located)
    assert any(e.startswith("log line") and "curl: (28)" in e for e in incident["evidence"])
    assert "return code 28" in incident["failures"][0]["log_note"]
    assert incident["failures"][0]["source"] == "callback"  # read from the local log file by the callback


def test_a_log_that_cannot_be_read_degrades_to_the_exception_with_a_note(airflow, runs):
    run_id, state = runs["it_wired_lost_log"]
    assert state == "success"  # the healer healed it from the exception alone
    tries = airflow.task_tries("it_wired_lost_log", run_id, "fetch")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    [incident] = incidents(airflow, "it_wired_lost_log")
    assert incident["error_type"] == "network_timeout"
    assert incident["status"] == "recovered"
    assert "could not be read" in incident["failures"][0]["log_note"]
    assert incident["log_lines"] == []


def test_a_resource_error_climbs_the_declared_ladder_in_the_same_run(airflow, runs):
    run_id, state = runs["example_rescale"]
    assert state == "success"
    tries = airflow.task_tries("example_rescale", run_id, "aggregate_sessions")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    ti = airflow.api("GET", f"/api/v2/dags/example_rescale/dagRuns/{run_id}/taskInstances/aggregate_sessions")
    assert ti["rendered_fields"]["op_kwargs"]["memory_mb"] == "1024"  # the try that succeeded, one rung up
    store = open_store(f"sqlite:///{airflow.home / 'healer.db'}")
    assert store.tiers("example_rescale", run_id, "aggregate_sessions") == [
        {"name": "memory_mb", "ladder": [512, 1024, 2048], "rung": 1, "try_number": 2}]
    [incident] = incidents(airflow, "example_rescale")
    assert incident["error_type"] == "resource_exhaustion"
    assert incident["status"] == "recovered"
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("rescale", "success")]
    assert incident["actions"][0]["detail"].startswith("memory_mb 512 -> 1024")


def test_at_the_ladders_top_the_healer_stops_and_the_run_fails(airflow, runs):
    run_id, state = runs["it_ceiling"]
    assert state == "failed"
    tries = airflow.task_tries("it_ceiling", run_id, "crunch")
    assert [t["state"] for t in tries] == ["failed", "failed"]
    [incident] = incidents(airflow, "it_ceiling")
    assert incident["status"] == "not_recovered"
    assert "ceiling is reached (memory_mb=384)" in incident["reason"]
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("rescale", "failed")]


def test_an_expired_password_is_refreshed_from_its_source_and_the_task_retried(airflow, runs):
    run_id, state = runs["it_refresh"]
    assert state == "success"
    tries = airflow.task_tries("it_refresh", run_id, "query")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    [incident] = incidents(airflow, "it_refresh")
    assert incident["error_type"] == "authentication_failure"
    assert incident["conn_ids"] == ["it_warehouse"]  # read from the operator's *_conn_id attribute
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("refresh_credentials", "success")]
    assert incident["actions"][0]["detail"].startswith("refresh it_warehouse from file://")
    conn = airflow.api("GET", "/api/v2/connections/it_warehouse")
    assert (conn["login"], conn["host"]) == ("etl", "warehouse.internal")  # only the password changed
    assert "rotated-by-vault" not in json.dumps(incident)  # no secret in the store


def test_the_retry_policy_fails_a_permanent_error_fast_and_retries_a_transient_one_soon(airflow, runs):
    run_id, state = runs["it_retry_policy"]
    assert state == "failed"  # query_forbidden cannot succeed
    forbidden = airflow.task_tries("it_retry_policy", run_id, "query_forbidden")
    assert [(t["try_number"], t["state"]) for t in forbidden] == [(1, "failed")]  # 3 retries left, none used
    flaky = airflow.task_tries("it_retry_policy", run_id, "fetch_flaky")
    assert [(t["try_number"], t["state"]) for t in flaky] == [(1, "failed"), (2, "success")]  # history's view
    # The policy's 1 s delay, not the task's 10 minutes.
    gap = (pendulum.parse(flaky[1]["start_date"]) - pendulum.parse(flaky[0]["end_date"])).total_seconds()
    assert gap < 120


def healer_stats(airflow, dag_id, run_id):
    """What the healer task said of its worker slot: kept even when Airflow skipped it once all had healed."""
    entry = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/healer/xcomEntries/"
                        "healer_stats", params={"deserialize": "true"})
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def test_the_healer_waits_for_a_retry_after_without_a_worker_slot(airflow, runs):
    run_id, state = runs["it_deferred"]
    assert state == "success"
    tries = airflow.task_tries("it_deferred", run_id, "call_api")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    waited = (pendulum.parse(tries[1]["start_date"]) - pendulum.parse(tries[0]["end_date"])).total_seconds()
    assert waited >= 19  # the Retry-After: 20 the error named
    [incident] = incidents(airflow, "it_deferred")
    assert (incident["error_type"], incident["status"]) == ("rate_limiting", "recovered")
    stats = healer_stats(airflow, "it_deferred", run_id)
    assert stats["deferrals"] >= 1
    # It gave its slot back for the wait: it cannot have held it through the 20 s the error named.
    assert stats["slot_seconds"] < waited
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("retry", "success")]


@pytest.mark.parametrize("dag_id", ["example_setup_teardown", "example_setup_teardown_taskflow"])
def test_airflows_setup_teardown_examples_load_and_run_with_the_healer(airflow, runs, dag_id):
    errors = airflow.api("GET", "/api/v2/importErrors")["import_errors"]
    assert not [e for e in errors if "setup_teardown" in e["filename"]]
    tasks = {t["task_id"]: t for t in airflow.api("GET", f"/api/v2/dags/{dag_id}/tasks")["tasks"]}
    assert "healer" in tasks
    run_id, state = runs[dag_id]
    assert state == "success"
