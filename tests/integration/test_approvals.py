"""A risky fix on a real Airflow: proposed, decided from the command line, and the same run heals or ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.conftest import APPROVAL_TIMEOUT_SECONDS
from tests.integration.test_self_healing import incidents

pytestmark = pytest.mark.integration


def cli(airflow, *args):
    return subprocess.run([str(Path(sys.executable).parent / "airflow-healer"), *args], capture_output=True,
                          text=True, env={**airflow.env, "AIRFLOW_HEALER_USER": "ana"})


def pending_proposal(airflow, dag_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = cli(airflow, "proposals", "list", "--format", "json", "--status", "pending")
        found = [p for p in json.loads(out.stdout or "[]") if p["dag_id"] == dag_id]
        if found:
            return found[0]
        time.sleep(1)
    raise TimeoutError(f"no proposal for {dag_id} within {timeout}s")


def hitl_path(dag_id, run_id):
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/healer/-1/hitlDetails"


def healer_state(airflow, dag_id, run_id):
    return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/healer")["state"]


def wait_for_healer_state(airflow, dag_id, run_id, state, timeout=120):
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = healer_state(airflow, dag_id, run_id)
        if seen == state:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the healer of {dag_id} is {seen}, not {state}, after {timeout}s")


@pytest.fixture(scope="module")
def decided(airflow):
    dags = ("it_approved", "it_rejected", "it_required_action", "it_expired")
    run_ids = {dag_id: airflow.trigger(dag_id) for dag_id in dags}
    approved = pending_proposal(airflow, "it_approved")
    (airflow.home / "it_approved_granted").touch()  # the person grants the role, then approves
    assert cli(airflow, "proposals", "approve", approved["id"], "--note", "granted storage.objectViewer").returncode == 0
    rejected = pending_proposal(airflow, "it_rejected")
    assert cli(airflow, "proposals", "reject", rejected["id"], "--reason", "bucket is private").returncode == 0
    # A person answers in Airflow's Required Actions (the page sends this request) while the healer waits
    # in awaiting_input: no worker slot, no triggerer.
    asked = pending_proposal(airflow, "it_required_action")
    wait_for_healer_state(airflow, "it_required_action", run_ids["it_required_action"], "awaiting_input")
    request = airflow.api("GET", hitl_path("it_required_action", run_ids["it_required_action"]))
    (airflow.home / "it_required_action_granted").touch()
    airflow.api("PATCH", hitl_path("it_required_action", run_ids["it_required_action"]),
                json={"chosen_options": ["Approve"], "params_input": {}})
    expired = pending_proposal(airflow, "it_expired")
    wait_for_healer_state(airflow, "it_expired", run_ids["it_expired"], "awaiting_input")
    states = {d: airflow.wait_for_run(d, r, timeout=APPROVAL_TIMEOUT_SECONDS + 240) for d, r in run_ids.items()}
    return run_ids, states, {"approved": approved, "rejected": rejected, "asked": asked, "request": request,
                             "expired": expired}


def test_a_risky_fix_is_proposed_and_approved_from_the_cli_the_same_run_heals(airflow, decided):
    run_ids, states, proposals = decided
    approved = proposals["approved"]
    assert states["it_approved"] == "success"
    tries = airflow.task_tries("it_approved", run_ids["it_approved"], "read_bucket")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    assert approved["strategy"] == "grant_permission" and "roles/storage.objectViewer" in approved["change"]
    [incident] = incidents(airflow, "it_approved")
    assert incident["status"] == "recovered"
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [
        ("grant_permission", "skipped"), ("grant_permission", "success")]
    assert "approved by ana: granted storage.objectViewer" in incident["actions"][0]["detail"]
    # The proposal says what to grant to whom on what, and the CLI answered the Required Actions entry too.
    content = approved["content"]
    assert (content["kind"], content["permission"], content["role"]) == (
        "grant_permission", "storage.objects.list", "roles/storage.objectViewer")
    assert "etl@acme.iam.gserviceaccount.com" in content["principal"]
    answered = airflow.api("GET", hitl_path("it_approved", run_ids["it_approved"]))
    assert answered["chosen_options"] == ["Approve"] and answered["response_received"]


def test_a_rejected_proposal_ends_the_run_failed_with_the_reason(airflow, decided):
    run_ids, states, proposals = decided
    rejected = proposals["rejected"]
    assert states["it_rejected"] == "failed"
    [incident] = incidents(airflow, "it_rejected")
    assert incident["status"] == "not_recovered"
    assert f"proposal {rejected['id']} rejected by ana: bucket is private" in incident["reason"]
    again = cli(airflow, "proposals", "approve", rejected["id"])
    assert again.returncode == 1 and "already rejected by ana" in again.stderr


def test_an_answer_in_airflows_required_actions_heals_the_same_run(airflow, decided):
    run_ids, states, proposals = decided
    request = proposals["request"]
    assert request["options"] == ["Approve", "Reject"] and not request["response_received"]
    assert "load_table" in request["subject"] and proposals["asked"]["id"] in request["body"]
    assert "roles/bigquery.dataEditor" in request["body"]
    assert states["it_required_action"] == "success"
    tries = airflow.task_tries("it_required_action", run_ids["it_required_action"], "load_table")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    out = cli(airflow, "proposals", "list", "--format", "json")
    [decision] = [p for p in json.loads(out.stdout) if p["id"] == proposals["asked"]["id"]]
    assert (decision["status"], decision["decided_by"], decision["note"]) == (
        "approved", "admin", "in Airflow's Required Actions")


def test_a_proposal_nobody_answers_expires_and_the_run_ends_failed(airflow, decided):
    run_ids, states, proposals = decided
    assert states["it_expired"] == "failed"
    [incident] = incidents(airflow, "it_expired")
    assert incident["status"] == "not_recovered"
    assert f"proposal {proposals['expired']['id']} expired" in incident["reason"]
    # It waited in awaiting_input until Airflow's own timeout sweep resumed it with the default answer.
    answered = airflow.api("GET", hitl_path("it_expired", run_ids["it_expired"]))
    assert answered["chosen_options"] == ["Reject"] and answered["responded_by_user"] is None
    late = cli(airflow, "proposals", "approve", proposals["expired"]["id"])
    assert late.returncode == 1 and "expired" in late.stderr
