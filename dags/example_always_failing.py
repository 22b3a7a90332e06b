"""A pipeline whose upstream never answers: the healer retries, gives up, and the run ends failed."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import self_healing

with DAG(
    dag_id="example_always_failing",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow_healer", "example"],
    doc_md="`call_partner_api` always fails to connect; the healer gives up after `max_attempts` retries.",
) as dag:

    @task(retries=0)
    def call_partner_api() -> None:
        raise ConnectionRefusedError("[Errno 111] Connection refused: partner-api.internal:8443")

    @task
    def publish() -> None:
        print("published")

    call_partner_api() >> publish()

self_healing(dag)
