"""A task that runs out of memory on its first rung, and heals by climbing the ladder its author declared.

``{{ healer.tier('memory_mb', [512, 1024, 2048]) }}`` renders 512 on the first try; when the try fails
for lack of memory, the healer takes one step up and retries it in the same run, which renders 1024.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_healer import self_healing


def aggregate_sessions(memory_mb: str) -> str:
    needed = 1024
    if int(memory_mb) < needed:
        # What Kubernetes says when a container outgrows its limit.
        raise RuntimeError(f"Container aggregate was OOMKilled: it exceeded its memory limit of {memory_mb}Mi "
                           "(exit code 137)")
    return f"aggregated with {memory_mb} MB"


with DAG(
    dag_id="example_rescale",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow_healer", "example"],
    doc_md=__doc__,
) as dag:
    PythonOperator(
        task_id="aggregate_sessions",
        retries=0,
        python_callable=aggregate_sessions,
        op_kwargs={"memory_mb": "{{ healer.tier('memory_mb', [512, 1024, 2048]) }}"},
    )

self_healing(dag)
