"""``healer_remediate_dag()``: the DAG data engineers trigger to heal one failed task instance by hand.

::

    from airflow_healer.remediate import healer_remediate_dag

    dag = healer_remediate_dag()

Trigger it from the UI (its form shows the Params) or the API with ``conf``::

    {"dag_id": "orders", "run_id": "scheduled__2026-12-01T00:00:00+00:00", "task_id": "extract",
     "strategy": "auto", "dry_run": true, "reason": "partner API was down"}

``dry_run`` is true by default: the run says what it would do, records that, and changes nothing.
``{"proposal_id": "3f2a9c0d1e8b"}`` carries out an approved proposal instead (``ApplyProposalOperator``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def healer_remediate_dag(dag_id: str = "healer_remediate", **dag_kwargs: Any) -> Any:
    """Build the manual remediation DAG (no schedule; one task)."""
    from airflow.sdk import DAG, Param

    from airflow_healer.operators.remediate import RemediateOperator

    dag_kwargs.setdefault("tags", ["airflow_healer"])
    dag_kwargs.setdefault("doc_md", __doc__)
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        is_paused_upon_creation=False,
        params={
            "dag_id": Param("", type="string", description="The DAG of the failed task."),
            "run_id": Param("", type="string", description="Its run."),
            "task_id": Param("", type="string", description="The failed task."),
            "map_index": Param(-1, type="integer", minimum=-1, description="-1 unless the task is mapped."),
            "strategy": Param("auto", enum=["auto", "retry", "rescale", "refresh_credentials"],
                              description="auto: the healer decides, as it would in the run."),
            "dry_run": Param(True, type="boolean", description="Say what would be done, and do nothing."),
            "reason": Param("", type="string", description="Why; recorded with the action."),
            "proposal_id": Param("", type="string", description=(
                "Or: an approved proposal (`airflow-healer proposals list`) to carry out; its task is retried "
                "in its run, after the change where the healer can make it. dag_id, run_id and task_id are then "
                "taken from it.")),
        },
        render_template_as_native_obj=True,
        **dag_kwargs,
    ) as dag:
        RemediateOperator(
            task_id="remediate",
            target_dag_id="{{ params.dag_id }}", target_run_id="{{ params.run_id }}",
            target_task_id="{{ params.task_id }}", target_map_index="{{ params.map_index }}",
            strategy="{{ params.strategy }}", dry_run="{{ params.dry_run }}", reason="{{ params.reason }}",
            proposal_id="{{ params.proposal_id }}",
        )
    return dag
