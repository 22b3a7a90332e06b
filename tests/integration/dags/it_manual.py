"""A DAG with no healer wiring whose task fails until a file exists: a data engineer heals it by hand."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(dag_id="it_manual", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    BashOperator(
        task_id="sync_partners",
        retries=0,
        bash_command=(
            'test -f "$AIRFLOW_HOME/it_manual_partner_up" || { echo "curl: (7) Failed to connect to '
            'partners.example.com port 443 after 3 ms: Connection refused" >&2; exit 7; }; echo synced'
        ),
    )
