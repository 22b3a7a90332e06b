"""Jobs outside Airflow on a real Airflow: a deferred sensor heals a failed BigQuery job in its own try, and
the healer_external_jobs DAG polls BigQuery into incidents. The real google-cloud-bigquery client talks to
BigQuery's REST API on loopback (``BIGQUERY_EMULATOR_HOST``): Google's API is what cannot run here."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_healer.core.store import open_store
from airflow_healer.core.types import IncidentStatus, Outcome

pytestmark = pytest.mark.integration

RATE = {"reason": "rateLimitExceeded", "location": "it-project", "message": (
    "Exceeded rate limits: too many concurrent queries for this project_and_region. For more information, see "
    "https://cloud.google.com/bigquery/docs/troubleshoot-quotas")}
DENIED = {"reason": "accessDenied", "message": (
    "Access Denied: Table it-project:sales.orders: User does not have permission to query table "
    "it-project:sales.orders, or perhaps it does not exist. bigquery.tables.getData denied")}


def store(airflow):
    return open_store(f"sqlite:///{Path(airflow.home) / 'healer.db'}")


def test_a_rate_limited_job_is_rerun_inside_the_deferred_sensor_and_the_run_succeeds(airflow, fake_bigquery):
    query = "SELECT customer_id, SUM(total) FROM sales.orders GROUP BY 1"
    fake_bigquery.script("it_q1", ["RUNNING", "RUNNING", "RUNNING", ("DONE", RATE)], query=query)
    run_id = airflow.trigger("it_external_job")
    assert airflow.wait_for_run("it_external_job", run_id, timeout=240) == "success"
    [ti] = airflow.task_tries("it_external_job", run_id, "wait_for_query")
    assert (ti["state"], ti["try_number"]) == ("success", 1), "healed inside its one try"
    xcom = airflow.api("GET", f"/api/v2/dags/it_external_job/dagRuns/{run_id}/taskInstances/wait_for_query"
                              "/xcomEntries/return_value")
    assert "it-project:US.it_q1_healer_1" in str(xcom["value"])

    [insert] = fake_bigquery.inserts()
    assert insert["jobReference"] == {"jobId": "it_q1_healer_1", "projectId": "it-project", "location": "US"}
    assert insert["configuration"]["query"]["query"] == query
    reads = [path for method, path, _ in fake_bigquery.requests if method == "GET" and "/jobs/it_q1?" in path]
    assert len(reads) >= 4, "the trigger read the job until it ended"

    healer_store = store(airflow)
    incident = healer_store.find_incident("external:bigquery", "it-project:US.it_q1", "it_q1")
    assert incident.error_type.value == "rate_limiting"
    assert incident.status is IncidentStatus.RECOVERED
    [action] = incident.actions
    assert (action.strategy, action.outcome) == ("retry", Outcome.SUCCESS)
    rerun = healer_store.get_pipeline_job("it-project:US.it_q1_healer_1")
    assert rerun["status"] == "succeeded" and rerun["incident_id"] == incident.id
    assert healer_store.get_pipeline_job("it-project:US.it_q1")["error_type"] == "rate_limiting"


def test_the_external_jobs_dag_polls_bigquery_into_classified_incidents(airflow, fake_bigquery):
    fake_bigquery.script("it_nightly_export", [("DONE", DENIED)])
    fake_bigquery.script("it_fine", [("DONE", None)])
    for job_id in ("it_nightly_export", "it_fine"):  # as they stand when the poll lists them
        fake_bigquery._advance(job_id)
    airflow.wait_for_dag("healer_external_jobs")
    run_id = airflow.trigger("healer_external_jobs")
    assert airflow.wait_for_run("healer_external_jobs", run_id, timeout=180) == "success"
    healer_store = store(airflow)
    incident = healer_store.find_incident("external:bigquery", "it-project:US.it_nightly_export", "it_nightly_export")
    assert incident.error_type.value == "permission_denied"
    assert incident.status is IncidentStatus.OPEN and "records and classifies only" in incident.reason
    assert incident.failures[0].source == "gcp"
    assert healer_store.get_pipeline_job("it-project:US.it_fine")["status"] == "succeeded"
    lists = [path for method, path, _ in fake_bigquery.requests if method == "GET" and path.split("?")[0].endswith(
        "/projects/it-project/jobs")]
    assert lists and "allUsers=True" in lists[-1] and "stateFilter=done" in lists[-1]

    # A second poll finds the same jobs again (its overlap) and adds nothing.
    before = len(healer_store.list_pipeline_jobs(limit=500))
    run_id = airflow.trigger("healer_external_jobs")
    assert airflow.wait_for_run("healer_external_jobs", run_id, timeout=180) == "success"
    assert len(healer_store.list_pipeline_jobs(limit=500)) == before
    assert len(healer_store.find_incident("external:bigquery", "it-project:US.it_nightly_export",
                                          "it_nightly_export").failures) == 1
