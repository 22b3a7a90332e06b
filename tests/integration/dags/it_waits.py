"""Self-healing DAGs whose healer has to wait: a rate limit's Retry-After, and risky fixes that a person
answers in Airflow's Required Actions, or never answers."""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import on_failure_callback, self_healing

START = pendulum.datetime(2026, 1, 1, tz="UTC")
HOME = Path(os.environ.get("AIRFLOW_HOME", "."))

with DAG(dag_id="it_deferred", schedule=None, start_date=START, catchup=False) as deferred:

    @task(retries=0)
    def call_api() -> None:
        marker = HOME / "it_deferred_called"
        if not marker.exists():
            marker.touch()
            raise RuntimeError("429 Too Many Requests: rate limit exceeded for api.partner.example. Retry-After: 20")

    call_api()
self_healing(deferred)

for dag_id in ("it_required_action", "it_expired"):
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:

        @task(task_id="load_table", retries=0)
        def load_table(name: str = dag_id) -> None:
            if not (HOME / f"{name}_granted").exists():
                raise RuntimeError(
                    "google.api_core.exceptions.Forbidden: 403 POST https://bigquery.googleapis.com/bigquery/v2/"
                    "projects/acme/jobs: Access Denied: Table acme:sales.orders: Permission "
                    "bigquery.tables.updateData denied on table acme:sales.orders (or it may not exist).")

        load_table()
    self_healing(dag)
    globals()[dag_id] = dag

# The failure callback alone, no healer task: nobody waits in the run for a proposal (as with the watchdog's).
with DAG(dag_id="it_apply", schedule=None, start_date=START, catchup=False):

    @task(task_id="load_table", retries=0, on_failure_callback=on_failure_callback)
    def load_unwired() -> None:
        if not (HOME / "it_apply_granted").exists():
            raise RuntimeError(
                "google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme:sales.orders: Permission "
                "bigquery.tables.updateData denied on table acme:sales.orders (or it may not exist).")

    load_unwired()
