"""A DAG that waits on a BigQuery job it did not run: the job fails on a rate limit, the sensor heals it."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_healer.sensors.external_job import ExternalJobSensor

with DAG(dag_id="it_external_job", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    ExternalJobSensor(task_id="wait_for_query", job_type="bigquery", job_id="it_q1", project_id="it-project",
                      location="US", poll_interval=1, retries=0)
