"""Self-healing DAGs for the CeleryExecutor test (tests/integration/test_celery.py).

The work runs on worker A's queue and the healer on worker B's (the queues tests/cluster.py's
workers listen to), so a heal crosses workers: the failure is captured on A, classified and cleared
from B, and the retry runs on A again. The first try of every run times out; the retry succeeds.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_healer import self_healing

WORK_QUEUE = "etl"
HEALER_QUEUE = "healer"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def flaky_fetch(ti=None) -> int:
    if ti.try_number == 1:
        raise TimeoutError(
            "HTTPSConnectionPool(host='partners.example.com', port=443): Read timed out. (read timeout=30) "
            "while fetching /v2/partners/orders?page=1"
        )
    return 1


with DAG(dag_id="it_celery_heal", schedule=None, start_date=START, catchup=False) as heal:
    task(task_id="fetch_orders", retries=0, queue=WORK_QUEUE)(flaky_fetch)()
self_healing(heal, queue=HEALER_QUEUE)

# Twenty runs at once, each as small as a run can be: one flaky task and its healer.
with DAG(dag_id="it_celery_burst", schedule=None, start_date=START, catchup=False, max_active_runs=25,
         max_active_tasks=50) as burst:
    task(task_id="fetch_orders", retries=0, queue=WORK_QUEUE)(flaky_fetch)()
self_healing(burst, queue=HEALER_QUEUE)
