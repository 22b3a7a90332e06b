"""healer_remediate on a real Airflow: a data engineer heals a failed task by hand, dry run first."""

from __future__ import annotations

import pytest

from tests.integration.test_self_healing import incidents

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def failed(airflow):
    run_id = airflow.trigger("it_manual")
    assert airflow.wait_for_run("it_manual", run_id, timeout=300) == "failed"
    return run_id


def remediate(airflow, **conf):
    airflow.wait_for_dag("healer_remediate")
    run = airflow.api("POST", "/api/v2/dags/healer_remediate/dagRuns", json={"logical_date": None, "conf": conf})
    state = airflow.wait_for_run("healer_remediate", run["dag_run_id"], timeout=300)
    return run["dag_run_id"], state


def task_log(airflow, run_id):
    events = airflow.api("GET", f"/api/v2/dags/healer_remediate/dagRuns/{run_id}/taskInstances/remediate/logs/1")
    return "\n".join(str(e.get("event", "")) + str(e.get("error_detail", "")) for e in events["content"])


def test_a_request_for_a_run_that_does_not_exist_fails_and_says_which(airflow, failed):
    run_id, state = remediate(airflow, dag_id="it_manual", run_id="manual__nope", task_id="sync_partners",
                              dry_run=False)
    assert state == "failed"
    assert "has no run 'manual__nope'" in task_log(airflow, run_id)
    run_id, state = remediate(airflow, dag_id="it_manual", run_id=failed, task_id="nope", dry_run=False)
    assert state == "failed" and "has no task 'nope'" in task_log(airflow, run_id)


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(airflow, failed):
    run_id, state = remediate(airflow, dag_id="it_manual", run_id=failed, task_id="sync_partners")
    assert state == "success"
    assert [t["state"] for t in airflow.task_tries("it_manual", failed, "sync_partners")] == ["failed"]
    [incident] = incidents(airflow, "it_manual")
    assert incident["error_type"] == "network_timeout"  # from the curl line in its log
    assert incident["actions"][-1]["outcome"] == "skipped"
    assert "dry run: would" in incident["actions"][-1]["detail"]


def test_the_remediation_heals_the_task_in_its_own_run_and_records_who(airflow, failed):
    (airflow.home / "it_manual_partner_up").touch()  # the partner is back
    run_id, state = remediate(airflow, dag_id="it_manual", run_id=failed, task_id="sync_partners",
                              strategy="auto", dry_run=False, reason="partner API back up")
    assert state == "success"
    tries = airflow.task_tries("it_manual", failed, "sync_partners")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    [incident] = incidents(airflow, "it_manual")
    assert incident["status"] == "recovered"
    action = incident["actions"][-1]
    assert (action["strategy"], action["outcome"]) == ("retry", "success")
    assert "healer_remediate by admin: partner API back up" in action["detail"]


def test_an_approved_proposal_no_healer_waits_for_is_carried_out_by_healer_remediate(airflow):
    import subprocess
    import sys
    from pathlib import Path

    from airflow_healer.core.store import open_store

    # A failure only the callback recorded; a proposal for it that no healer task waits for (as the watchdog
    # opens them for the DAGs it heals) is approved and carried out.
    run_id = airflow.trigger("it_apply")
    assert airflow.wait_for_run("it_apply", run_id, timeout=300) == "failed"
    store = open_store(f"sqlite:///{airflow.home / 'healer.db'}")
    incident = store.find_incident("it_apply", run_id, "load_table")
    proposal = store.add_proposal(incident, "grant_permission", "grant roles/bigquery.dataEditor", 600)
    cli = [str(Path(sys.executable).parent / "airflow-healer"), "proposals", "approve", proposal["id"]]
    approved = subprocess.run(cli, capture_output=True, text=True, env={**airflow.env, "AIRFLOW_HEALER_USER": "ana"})
    assert approved.returncode == 0 and "trigger healer_remediate" in approved.stdout
    (airflow.home / "it_apply_granted").touch()  # ana granted the role
    remediation, state = remediate(airflow, proposal_id=proposal["id"])
    assert state == "success", task_log(airflow, remediation)
    tries = airflow.task_tries("it_apply", run_id, "load_table")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    incident = store.get_incident(incident.id)
    assert incident.status.value == "recovered"
    action = incident.actions[-1]
    assert (action.strategy, action.outcome.value) == ("grant_permission", "success")
    assert f"apply proposal {proposal['id']} (approved by ana) by admin" in action.detail
    # Carried out once: asking again finds no failed try to act on.
    again, state = remediate(airflow, proposal_id=proposal["id"])
    assert state == "failed" and "only a failed task instance can be remediated" in task_log(airflow, again)
