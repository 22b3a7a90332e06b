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


with DAG(dag_id="it_wired_lost_log", schedule=None, start_date=START, catchup=False) as wired:
    # Its first try deletes its own log file before failing, as when a worker's disk is lost: the
    # callback's fast path finds no file and the healer task's read through the API finds no log.

    @task(retries=0)
    def fetch(ti=None) -> None:
        if ti.try_number == 1:
            from airflow_healer.notifications.callback import local_log_path

            path = local_log_path(ti)
            assert path is not None, "the test needs the local log file"
            path.unlink()
            raise ConnectionResetError(104, "Connection reset by peer: warehouse.internal:5432")

    fetch()

from airflow_healer import self_healing  # noqa: E402 - the other DAGs of this file stay unwired

self_healing(wired)


with DAG(dag_id="it_ceiling", schedule=None, start_date=START, catchup=False) as ceiling:
    # Needs more than the ladder's top rung: the healer climbs once, then stops at the ceiling.

    @task(retries=0)
    def crunch(memory_mb: str) -> None:
        raise RuntimeError(f"Container crunch was OOMKilled: it exceeded its memory limit of {memory_mb}Mi "
                           "(exit code 137)")

    crunch("{{ healer.tier('memory_mb', [256, 384]) }}")

self_healing(ceiling)


from airflow.sdk import BaseHook, BaseOperator  # noqa: E402


class WarehouseQueryOperator(BaseOperator):
    """Logs in to a (pretend) warehouse with its connection's password, as provider operators do."""

    def __init__(self, *, warehouse_conn_id: str, **kwargs):
        super().__init__(**kwargs)
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context):
        conn = BaseHook.get_connection(self.warehouse_conn_id)
        if conn.password != "rotated-by-vault":
            raise RuntimeError(f'connection to server at "{conn.host}" (10.0.0.5), port 5432 failed: FATAL:  '
                               f'password authentication failed for user "{conn.login}"')
        return "queried"


with DAG(dag_id="it_refresh", schedule=None, start_date=START, catchup=False) as refresh:
    # Its connection's password was rotated; the new one is in the file [healer] credential_sources names.
    WarehouseQueryOperator(task_id="query", retries=0, warehouse_conn_id="it_warehouse")

self_healing(refresh)


from datetime import timedelta  # noqa: E402

from airflow_healer import HealerRetryPolicy  # noqa: E402
from airflow_healer.retry_policy import ErrorTypeRule  # noqa: E402

with DAG(dag_id="it_retry_policy", schedule=None, start_date=START, catchup=False):
    # Both tasks would wait 10 minutes between tries on their own; the policy decides from the error.
    policy = HealerRetryPolicy(rules={"network_timeout": ErrorTypeRule.retry(timedelta(seconds=1), backoff=1.0,
                                                                             jitter=0.0)})

    @task(retries=3, retry_delay=timedelta(minutes=10), retry_policy=policy)
    def query_forbidden() -> None:
        raise RuntimeError("google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme-prod:sales.orders: "
                           "User does not have permission to query table acme-prod:sales.orders.")

    @task(retries=2, retry_delay=timedelta(minutes=10), retry_policy=policy)
    def fetch_flaky(ti=None) -> None:
        if ti.try_number == 1:
            raise TimeoutError("HTTPSConnectionPool(host='orders.example.com', port=443): Read timed out. "
                               "(read timeout=30)")

    query_forbidden()
    fetch_flaky()
