"""A self-healing DAG whose task fails with markup in its error text: the Healer page must show it as text."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import self_healing

#: What the task raises; the browser test looks for it, as text, on the incident's page.
MESSAGE = "partner feed rejected the row <script>alert(1)</script><img src=x onerror=alert(2)>"

with DAG(dag_id="e2e_untrusted", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False) as dag:

    @task(task_id="load_feed", retries=0)
    def load_feed() -> None:
        raise ValueError(MESSAGE)

    load_feed()
self_healing(dag)
