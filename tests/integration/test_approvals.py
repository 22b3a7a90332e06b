"""A risky fix on a real Airflow: proposed, decided from the command line, and the same run heals or ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def decided(airflow):
    run_ids = {dag_id: airflow.trigger(dag_id) for dag_id in ("it_approved", "it_rejected")}
    approved = pending_proposal(airflow, "it_approved")
    (airflow.home / "it_approved_granted").touch()  # the person grants the role, then approves
    assert cli(airflow, "proposals", "approve", approved["id"], "--note", "granted storage.objectViewer").returncode == 0
    rejected = pending_proposal(airflow, "it_rejected")
    assert cli(airflow, "proposals", "reject", rejected["id"], "--reason", "bucket is private").returncode == 0
    states = {d: airflow.wait_for_run(d, r, timeout=300) for d, r in run_ids.items()}
    return run_ids, states, approved, rejected


def test_a_risky_fix_is_proposed_and_approved_from_the_cli_the_same_run_heals(airflow, decided):
    run_ids, states, approved, _ = decided
    assert states["it_approved"] == "success"
    tries = airflow.task_tries("it_approved", run_ids["it_approved"], "read_bucket")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    assert approved["strategy"] == "grant_permission" and "permission" in approved["change"]
    [incident] = incidents(airflow, "it_approved")
    assert incident["status"] == "recovered"
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [
        ("grant_permission", "skipped"), ("grant_permission", "success")]
    assert "approved by ana: granted storage.objectViewer" in incident["actions"][0]["detail"]


def test_a_rejected_proposal_ends_the_run_failed_with_the_reason(airflow, decided):
    run_ids, states, _, rejected = decided
    assert states["it_rejected"] == "failed"
    [incident] = incidents(airflow, "it_rejected")
    assert incident["status"] == "not_recovered"
    assert f"proposal {rejected['id']} rejected by ana: bucket is private" in incident["reason"]
    again = cli(airflow, "proposals", "approve", rejected["id"])
    assert again.returncode == 1 and "already rejected by ana" in again.stderr
