"""healer_remediate: for data engineers, heal one failed task instance by hand (dry run first).

Trigger it with Params ``dag_id``, ``run_id``, ``task_id``, ``map_index``, ``strategy`` (``auto``, ``retry``,
``rescale``, ``refresh_credentials``), ``dry_run`` and ``reason``. A DAG, run or task that does not exist,
or a task that did not fail, ends it failed with a message that says which. The outcome is recorded on the
incident like any other, with the user who triggered it.
"""

from airflow_healer.remediate import healer_remediate_dag

dag = healer_remediate_dag()
