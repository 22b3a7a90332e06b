"""The external-job trigger and sensor, over a job source that answers like a service would, and the
``healer_external_jobs`` DAG as Airflow would load it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from datetime import timedelta

import pytest

from airflow_healer.gcp.jobs import FAILED, RUNNING, SUCCEEDED, ExternalJob
from airflow_healer.triggers import external_job as trigger_module
from airflow_healer.triggers.external_job import MAX_ERRORS, ExternalJobTrigger


def job(job_id="analytics:US.q1", status=RUNNING, error="", name="orders-daily") -> ExternalJob:
    return ExternalJob(job_type="bigquery", job_id=job_id, job_name=name, status=status,
                       state={RUNNING: "RUNNING", FAILED: "DONE", SUCCEEDED: "DONE"}[status], project="analytics",
                       location="US", changed_at="2026-12-01T12:00:00.000+00:00",
                       start_time="2026-12-01T11:59:00.000+00:00",
                       end_time=None if status == RUNNING else "2026-12-01T12:00:00.000+00:00",
                       error_message=error, details={"configuration": {"query": {"query": "SELECT 1"}}})


class Source:
    def __init__(self, answers):
        self.answers = list(answers)
        self.asked: list[str] = []

    def get(self, job_id):
        self.asked.append(job_id)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def events(trigger):
    async def collect():
        return [e async for e in trigger.run()]

    return asyncio.run(collect())


@pytest.fixture
def source(monkeypatch):
    def install(*answers):
        made = Source(answers)
        monkeypatch.setattr(trigger_module, "job_source", lambda *args: made)
        return made
    return install


def test_the_trigger_waits_until_the_job_ends_and_hands_the_job_back(source):
    made = source(job(), job(), job(status=FAILED, error="rateLimitExceeded"))
    trigger = ExternalJobTrigger(job_type="bigquery", job_id="analytics:US.q1", project_id="analytics",
                                 location="US", poll_interval=0)
    (event,) = events(trigger)
    assert event.payload["status"] == "done"
    assert ExternalJob(**event.payload["job"]) == job(status=FAILED, error="rateLimitExceeded")
    assert made.asked == ["analytics:US.q1"] * 3
    json.dumps(event.payload)  # a trigger event must serialise


def test_the_trigger_rides_out_errors_and_says_when_they_do_not_stop(source):
    source(RuntimeError("503 backend error"), job(status=SUCCEEDED))
    trigger = ExternalJobTrigger(job_type="bigquery", job_id="q", project_id="p", poll_interval=0)
    assert events(trigger)[0].payload["status"] == "done"
    source(RuntimeError("403 dataflow.jobs.get denied"))
    (event,) = events(trigger)
    assert event.payload == {"status": "error", "message": (
        f"reading bigquery job q failed {MAX_ERRORS} times in a row: RuntimeError: 403 dataflow.jobs.get denied")}


def test_the_trigger_serialises_to_what_it_was_made_of():
    trigger = ExternalJobTrigger(job_type="dataflow", job_id="2026-12-01_01", project_id="p", location="europe-west1",
                                 gcp_conn_id="gcp", poll_interval=15)
    path, kwargs = trigger.serialize()
    assert path == "airflow_healer.triggers.external_job.ExternalJobTrigger"
    assert ExternalJobTrigger(**kwargs).serialize() == (path, kwargs)


def test_an_unknown_job_type_is_said_clearly():
    with pytest.raises(ValueError, match="use dataflow, workflows or bigquery"):
        trigger_module.job_source("dataproc", "p", "l", "c")


# -- the sensor ---------------------------------------------------------------------------------------


@pytest.fixture
def sensor(config, monkeypatch):
    from airflow_healer.sensors import external_job as sensor_module
    from airflow_healer.sensors.external_job import ExternalJobSensor

    monkeypatch.setenv("AIRFLOW__HEALER__EXTERNAL_HEAL", "")

    def make(answers, **kwargs):
        made = Source(answers)
        monkeypatch.setattr(sensor_module, "job_source", lambda *args: made)
        return ExternalJobSensor(task_id="wait", job_type="bigquery", job_id="q1", project_id="analytics",
                                 **kwargs), made
    return make


def test_the_sensor_defers_on_a_running_job_with_its_full_id(sensor):
    from airflow.sdk.exceptions import TaskDeferred

    op, made = sensor([job()])
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert made.asked == ["analytics:US.q1"]
    assert deferred.value.trigger.serialize()[1]["job_id"] == "analytics:US.q1"
    assert deferred.value.method_name == "execute_complete"
    # Its event waits out [healer] defer_settle_seconds (10 by default) after the deferral.
    assert 9 < deferred.value.trigger.not_before - time.time() <= 10


def test_the_sensor_returns_the_job_that_succeeded_and_keeps_its_row(sensor, store, config):
    op, _ = sensor([job(status=SUCCEEDED)])
    assert op.execute({}) == "analytics:US.q1"
    from airflow_healer.core.store import open_store

    row = open_store(config.store_url).get_pipeline_job("analytics:US.q1")
    assert row["status"] == "succeeded" and row["job_name"] == "orders-daily"


def test_the_sensor_fails_with_the_jobs_error_and_what_the_healer_made_of_it(sensor, config):
    from airflow.sdk.exceptions import AirflowException

    op, _ = sensor([job()], heal=False)
    failed = job(status=FAILED, error="Access Denied: Table analytics:sales.orders: User does not have permission "
                                      "bigquery.tables.getData. accessDenied")
    with pytest.raises(AirflowException) as raised:
        op.execute_complete({}, {"status": "done", "job": asdict(failed)})
    text = str(raised.value)
    assert text.startswith("bigquery job analytics:US.q1 ended DONE: Access Denied")
    assert "the healer: recorded from bigquery; classified permission_denied" in text


def test_the_sensor_says_why_it_cannot_wait(sensor):
    from airflow.sdk.exceptions import AirflowException

    op, _ = sensor([job()])
    with pytest.raises(AirflowException, match="Cannot wait on the bigquery job: reading .* 403"):
        op.execute_complete({}, {"status": "error", "message": "reading bigquery job q1 failed 10 times: 403"})


def test_a_workflows_execution_by_its_id_needs_its_workflow(config):
    from airflow.sdk.exceptions import AirflowException

    from airflow_healer.sensors.external_job import ExternalJobSensor

    op = ExternalJobSensor(task_id="w", job_type="workflows", job_id="e1", project_id="p", location="l")
    with pytest.raises(AirflowException, match="needs workflow_id"):
        op.full_job_id()
    op.workflow_id = "export"
    assert op.full_job_id() == "projects/p/locations/l/workflows/export/executions/e1"


# -- the DAG ------------------------------------------------------------------------------------------


def test_no_dag_while_nothing_is_configured_and_its_tasks_once_it_is(config, monkeypatch):
    from airflow_healer.external import healer_external_jobs_dag

    assert healer_external_jobs_dag() is None
    monkeypatch.setenv("AIRFLOW__HEALER__EXTERNAL_JOBS", "dataflow,bigquery")
    monkeypatch.setenv("AIRFLOW__HEALER__EXTERNAL_INTERVAL", "15m")
    dag = healer_external_jobs_dag()
    assert list(dag.task_dict) == ["poll_external_jobs"]
    assert dag.schedule == timedelta(minutes=15)
    assert dag.max_active_runs == 1 and not dag.catchup
    monkeypatch.setenv("AIRFLOW__HEALER__PUBSUB_SUBSCRIPTION", "projects/p/subscriptions/s")
    monkeypatch.setenv("AIRFLOW__HEALER__PUBSUB_DEAD_LETTER_TOPIC", "projects/p/topics/dead")
    assert sorted(healer_external_jobs_dag().task_dict) == ["consume_incidents", "poll_external_jobs"]
