"""DAGs that fail the way real pipelines do, for ``bench/bench_faults.py``.

Each fault is one task whose failure is decided by state on disk, in ``$FAULT_BENCH_STATE/<variant>/``,
so that a fix really fixes it: a marker that says the first try happened, the time of the first 429, the
token the partner's API accepts now, the memory the try was given. Every fault has two DAGs:

- ``fault_<name>_healer``: ``retries=0`` and ``self_healing(dag)``; the healer heals it in the same run.
- ``fault_<name>_retries3``: Airflow's own ``retries=3``, ``retry_delay=5 s``, no healer.

``$FAULT_BENCH_VARIANT`` (``healer``, ``retries3``, or ``both``, the default) says which DAGs this file makes.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseHook

from airflow_healer import self_healing

START = pendulum.datetime(2026, 1, 1, tz="UTC")
RETRY_AFTER_SECONDS = 5
LADDER = [512, 1024, 2048]
NEEDED_MB = 1024
TOKEN_FILE = "fault_api.token"  # the token the API accepts now; [healer] credential_sources points at it


def _state(variant: str) -> Path:
    path = Path(os.environ["FAULT_BENCH_STATE"]) / variant
    path.mkdir(parents=True, exist_ok=True)
    return path


def transient_network(variant: str) -> str:
    import requests

    marker = _state(variant) / "network_failed_once"
    if not marker.exists():
        marker.touch()
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='partner-api.example.com', port=443): Max retries exceeded with url: "
            "/v2/orders?page=1 (Caused by ProtocolError('Connection aborted.', "
            "ConnectionResetError(104, 'Connection reset by peer')))")
    return "fetched 1,204 orders"


def rate_limited(variant: str) -> str:
    import requests

    first = _state(variant) / "first_429_at"
    if not first.exists():
        first.write_text(str(time.time()))
    # Until the wait the API asked for has passed, every call gets the same answer.
    if time.time() - float(first.read_text()) < RETRY_AFTER_SECONDS:
        raise requests.exceptions.HTTPError(
            "429 Client Error: Too Many Requests for url: https://api.partner.example.com/v1/events?page=3 "
            f"(rate limit of 600 requests exceeded; Retry-After: {RETRY_AFTER_SECONDS})")
    return "fetched 3 pages of events"


def expired_token(variant: str, api_conn_id: str) -> str:
    import requests

    password = BaseHook.get_connection(api_conn_id).password
    current = (_state(variant) / TOKEN_FILE).read_text().strip()
    if password != current:
        raise requests.exceptions.HTTPError(
            "401 Client Error: Unauthorized for url: https://api.partner.example.com/v1/invoices: "
            '{"error": "invalid_token", "error_description": "401 Unauthorized: token expired"}')
    return "fetched invoices"


def out_of_memory(variant: str, memory_mb: str) -> str:
    if int(memory_mb) < NEEDED_MB:
        raise MemoryError("Unable to allocate 1.5 GiB for an array with shape (201326592,) and data type float64 "
                          f"(worker memory limit {memory_mb} MiB)")
    return f"aggregated sessions with {memory_mb} MB"


def schema_mismatch(variant: str) -> str:
    from google.api_core.exceptions import BadRequest

    raise BadRequest("POST https://bigquery.googleapis.com/upload/bigquery/v2/projects/proj/jobs?uploadType=resumable: "
                     "Provided Schema does not match Table proj:ds.events. Cannot add fields (field: new_col)")


def iam_denied(variant: str) -> str:
    from google.api_core.exceptions import Forbidden

    raise Forbidden("GET https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets/d/tables/t/data: "
                    "Permission 'bigquery.tables.getData' denied on resource projects/p/datasets/d/tables/t "
                    "(or it may not exist).")


class ApiCallOperator(PythonOperator):
    """A PythonOperator that names the connection it uses the providers' way (a ``*_conn_id`` attribute)."""

    def __init__(self, *, api_conn_id: str, **kwargs):
        kwargs["op_kwargs"] = {**kwargs.get("op_kwargs", {}), "api_conn_id": api_conn_id}
        super().__init__(**kwargs)
        self.api_conn_id = api_conn_id


# name: (task_id, callable, extra operator kwargs for the healer variant / for the baseline)
FAULTS = {
    "network": ("fetch_orders", transient_network, {}, {}),
    "rate_limit": ("fetch_events", rate_limited, {}, {}),
    "token": ("fetch_invoices", expired_token, {"api_conn_id": "fault_api"}, {"api_conn_id": "fault_api"}),
    "oom": ("aggregate_sessions", out_of_memory,
            {"op_kwargs": {"memory_mb": "{{ healer.tier('memory_mb', " + str(LADDER) + ") }}"}},
            {"op_kwargs": {"memory_mb": str(LADDER[0])}}),
    "schema": ("load_events", schema_mismatch, {}, {}),
    "iam": ("read_table", iam_denied, {}, {}),
}

VARIANTS = {
    "healer": {"retries": 0},
    "retries3": {"retries": 3, "retry_delay": timedelta(seconds=5)},
}


def _make(name: str, variant: str) -> DAG:
    task_id, func, healer_kwargs, baseline_kwargs = FAULTS[name]
    extra = dict(healer_kwargs if variant == "healer" else baseline_kwargs)
    extra["op_kwargs"] = {"variant": variant, **extra.get("op_kwargs", {})}
    operator = ApiCallOperator if "api_conn_id" in extra else PythonOperator
    with DAG(dag_id=f"fault_{name}_{variant}", schedule=None, start_date=START, catchup=False,
             tags=["fault_bench"]) as dag:
        operator(task_id=task_id, python_callable=func, **VARIANTS[variant], **extra)
    if variant == "healer":
        self_healing(dag)
    return dag


_wanted = os.environ.get("FAULT_BENCH_VARIANT", "both")
for _variant in VARIANTS:
    if _wanted in ("both", _variant):
        for _name in FAULTS:
            _dag = _make(_name, _variant)
            globals()[_dag.dag_id] = _dag
