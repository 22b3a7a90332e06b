"""``healer_watchdog_dag()``: the watchdog DAG, for a one-line file in the DAGs folder::

    from airflow_healer.watchdog import healer_watchdog_dag

    dag = healer_watchdog_dag()

It runs every ``[healer] watchdog_interval`` (one run at a time, no catchup): a deferrable sensor
waits in the triggerer until some task failed after the watermark, then one task records and
classifies every such failure from its log (see :mod:`airflow_healer.core.watchdog`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_healer.core.config import HealerConfig


def healer_watchdog_dag(dag_id: str = "healer_watchdog", *, schedule: Any = "config", **dag_kwargs: Any) -> Any:
    """Build the watchdog DAG.

    :param dag_id: its id.
    :param schedule: a schedule for the DAG; by default every ``[healer] watchdog_interval``
        (``none`` there: only when triggered by hand).
    :param dag_kwargs: more ``DAG(...)`` arguments (tags, owner links ...).
    """
    from airflow.sdk import DAG

    from airflow_healer.operators.watchdog import WatchdogCycleOperator
    from airflow_healer.sensors.watchdog import HealerWatchdogSensor

    if schedule == "config":
        seconds = HealerConfig.load().watchdog_interval_seconds
        schedule = timedelta(seconds=seconds) if seconds else None
    dag_kwargs.setdefault("tags", ["airflow_healer"])
    dag_kwargs.setdefault("doc_md", __doc__)
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        # Installed to watch: it starts without waiting for someone to unpause it.
        is_paused_upon_creation=False,
        default_args={"retries": 0},
        **dag_kwargs,
    ) as dag:
        HealerWatchdogSensor(task_id="wait_for_failures") >> WatchdogCycleOperator(task_id="record_failures")
    return dag
