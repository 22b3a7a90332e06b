"""Test DAGs with no healer wiring at all: only the watchdog sees their failures."""

from __future__ import annotations

import os
import signal

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(dag_id="it_unwired", schedule=None, start_date=START, catchup=False):
    # The cause is only in the log: the exception says "Bash command failed".
    BashOperator(
        task_id="query_sales",
        retries=0,
        bash_command=(
            "echo 'running sales report'; "
            "echo 'google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme-prod:sales.orders: "
            "User does not have permission to query table acme-prod:sales.orders.' >&2; exit 1"
        ),
    )

with DAG(dag_id="it_killed", schedule=None, start_date=START, catchup=False):

    @task(retries=0)
    def crunch() -> None:
        print("loading 40 GB into memory")
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does

    crunch()

with DAG(dag_id="it_lost_log", schedule=None, start_date=START, catchup=False):

    @task(retries=0)
    def flaky() -> None:
        raise ConnectionRefusedError("[Errno 111] Connection refused: warehouse.internal:5432")

    flaky()
