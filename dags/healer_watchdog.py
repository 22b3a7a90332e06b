"""The healer's watchdog: every failed task of every DAG gets an incident, classified from its log.

Copy this file into the DAGs folder (on Composer: the environment's DAGs bucket).
"""

from airflow_healer.watchdog import healer_watchdog_dag

dag = healer_watchdog_dag()
