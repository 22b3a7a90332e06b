"""A Bash pipeline whose export step hits a network timeout once, and heals itself in the same run.

The command's exception only says "Bash command failed ... exit code 28"; the healer reads the cause
(curl's timeout, printed on stderr) from the task's log and retries the step.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from airflow_healer import self_healing

with DAG(
    dag_id="example_bash_self_healing",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["airflow_healer", "example"],
    doc_md=__doc__,
) as dag:
    export = BashOperator(
        task_id="export_partners",
        retries=0,
        # Fails on its first try the way curl does when the partner's API does not answer.
        bash_command=(
            "echo 'exporting partners to api.partner-exports.com'; "
            "if [ {{ ti.try_number }} -eq 1 ]; then "
            "echo 'curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: "
            "Connection timed out' >&2; exit 28; fi; echo 'exported 1204 partners'"
        ),
    )
    notify = BashOperator(task_id="notify", bash_command="echo 'partners exported'")
    export >> notify

self_healing(dag)
