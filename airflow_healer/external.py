"""``healer_external_jobs_dag()``: the DAG that watches what runs outside Airflow, for a one-line file::

    from airflow_healer.external import healer_external_jobs_dag

    dag = healer_external_jobs_dag()

Every ``[healer] external_interval`` (one run at a time, no catchup) it polls the Dataflow jobs,
Cloud Workflows executions and BigQuery jobs that ``external_jobs`` names, and pulls
``pubsub_subscription`` into the store. It is not built (the function returns None) while neither is
configured, so an install that does not use Google Cloud shows no idle DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_healer.core.config import HealerConfig


def healer_external_jobs_dag(dag_id: str = "healer_external_jobs", *, schedule: Any = "config",
                             **dag_kwargs: Any) -> Any:
    """Build the DAG, or return None when ``[healer]`` configures neither polling nor a subscription.

    :param schedule: by default every ``[healer] external_interval`` (``none`` there: by hand only).
    :param dag_kwargs: more ``DAG(...)`` arguments.
    """
    config = HealerConfig.load()
    if not (config.external_job_types or config.pubsub_subscription or config.pubsub_topic):
        return None
    from airflow.sdk import DAG

    from airflow_healer.operators.external import ConsumeIncidentsOperator, PollExternalJobsOperator

    if schedule == "config":
        seconds = config.external_interval_seconds
        schedule = timedelta(seconds=seconds) if seconds else None
    dag_kwargs.setdefault("tags", ["airflow_healer"])
    dag_kwargs.setdefault("doc_md", __doc__)
    with DAG(dag_id=dag_id, schedule=schedule, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
             catchup=False, max_active_runs=1, is_paused_upon_creation=False, default_args={"retries": 0},
             **dag_kwargs) as dag:
        if config.external_job_types:
            PollExternalJobsOperator(task_id="poll_external_jobs")
        if config.pubsub_subscription or config.pubsub_topic:
            ConsumeIncidentsOperator(task_id="consume_incidents")
    return dag
