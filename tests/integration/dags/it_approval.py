"""Self-healing DAGs whose fix is risky (an IAM grant): the healer proposes it and waits for a person."""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import self_healing

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def _read_bucket(name: str) -> None:
    # The role is granted (by the person who approves) when this file exists.
    if not (Path(os.environ["AIRFLOW_HOME"]) / f"{name}_granted").exists():
        raise RuntimeError(
            "google.api_core.exceptions.Forbidden: 403 GET https://storage.googleapis.com/storage/v1/b/acme-raw/o: "
            "etl@acme.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud "
            "Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).")


for dag_id in ("it_approved", "it_rejected"):
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:

        @task(task_id="read_bucket", retries=0)
        def read_bucket(name: str = dag_id) -> None:
            _read_bucket(name)

        read_bucket()
    self_healing(dag)
    globals()[dag_id] = dag
