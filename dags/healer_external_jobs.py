"""Jobs outside Airflow: polls Dataflow, Cloud Workflows and BigQuery jobs, and pulls incidents from
Pub/Sub, as ``[healer] external_jobs`` and ``pubsub_subscription`` say (no DAG while neither is set).

Copy this file into the DAGs folder (on Composer: the environment's DAGs bucket).
"""

from airflow_healer.external import healer_external_jobs_dag

dag = healer_external_jobs_dag()
