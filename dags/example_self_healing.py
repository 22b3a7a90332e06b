"""A pipeline whose extract step hits a network timeout once, and heals itself in the same run."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import self_healing

with DAG(
    dag_id="example_self_healing",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow_healer", "example"],
    doc_md="`extract_orders` times out on its first try; the healer retries it in the same run.",
) as dag:

    @task(retries=0)
    def extract_orders(ti=None) -> int:
        if ti.try_number == 1:
            raise TimeoutError(
                "HTTPSConnectionPool(host='orders.example.com', port=443): Read timed out. (read timeout=30) "
                "while fetching /v1/orders?since=2026-11-27T00:00:00Z"
            )
        return 42

    @task
    def load_orders(count: int) -> None:
        print(f"loaded {count} orders")

    load_orders(extract_orders())

self_healing(dag)
