"""The BigQuery store's tables and the rows it writes to them (see :mod:`airflow_healer.gcp.bigquery_store`).

Every table is append-only: a change is a newer version of a row, never an UPDATE (rows in BigQuery's
streaming buffer cannot be updated, and DML takes seconds). Each is partitioned by day on a time that
is the same in every version of a row (so that a row's versions share a partition) and clustered on
what the analytics group by. Texts are cut and escaped here, before a row exists: error messages are
untrusted, can be huge, and may hold bytes that are not UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_healer.core.store.base import utc_iso, utcnow
from airflow_healer.core.types import Action, Failure, Incident, Outcome

#: The version of the tables' schema this code writes; kept as a label on every table.
SCHEMA_VERSION = 1
SCHEMA_LABEL = "healer_schema_version"
#: Longest text a column keeps (a BigQuery row may be 10 MB, an insertAll request too).
MAX_TEXT_BYTES = 64 * 1024
#: Longest JSON a column keeps (a ledger payload, a knowledge record, evidence).
MAX_JSON_BYTES = 256 * 1024


# -- the tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    mode: str = "NULLABLE"
    description: str = ""

    def resource(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "mode": self.mode}
        return {**out, "description": self.description} if self.description else out


@dataclass(frozen=True)
class TableSpec:
    """One append-only table: its columns, the day partition and clustering, and what a version is.

    :param key: the column that names one thing (an incident, a job, an action); its versions share it.
    :param order: the ORDER BY that puts its latest version first.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    partition: str
    clustering: tuple[str, ...]
    key: str
    order: str = "updated_at DESC"
    #: Columns of this process's clock, left out of the insertId: the same content is the same version.
    clock: tuple[str, ...] = ("updated_at",)

    @property
    def column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns)


def _cols(*spec: str) -> tuple[Column, ...]:
    """``"name TYPE"`` or ``"name TYPE REQUIRED"`` as columns."""
    out = []
    for item in spec:
        name, kind, *mode = item.split()
        out.append(Column(name, kind, mode[0] if mode else "NULLABLE"))
    return tuple(out)


TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec(
        "pipeline_jobs", "Jobs the healer saw fail or polled: one row per Airflow try and per external job "
        "version; the latest updated_at of a job_id is its state.",
        _cols("job_id STRING REQUIRED", "job_name STRING", "job_type STRING REQUIRED", "status STRING",
              "start_time TIMESTAMP", "end_time TIMESTAMP", "duration_seconds FLOAT64", "error_message STRING",
              "error_type STRING", "project STRING", "location STRING", "incident_id STRING", "dag_id STRING",
              "run_id STRING", "task_id STRING", "map_index INT64", "try_number INT64",
              "updated_at TIMESTAMP REQUIRED"),
        partition="start_time", clustering=("job_type", "status"), key="job_id"),
    TableSpec(
        "remediation_actions", "What the healer did about incidents; the latest updated_at of an action_id "
        "is its outcome.",
        _cols("action_id INT64 REQUIRED", "incident_id STRING REQUIRED", "job_id STRING", "dag_id STRING",
              "task_id STRING", "error_type STRING", "strategy STRING REQUIRED", "attempt INT64", "outcome STRING",
              "success BOOL", "detail STRING", "risky BOOL", "execution_time TIMESTAMP REQUIRED",
              "finished_at TIMESTAMP", "duration_seconds FLOAT64", "updated_at TIMESTAMP REQUIRED"),
        partition="execution_time", clustering=("strategy", "error_type"), key="action_id"),
    TableSpec(
        "incidents", "Versions of each incident, one a change; the latest updated_at of an incident_id is "
        "its state.",
        _cols("incident_id STRING REQUIRED", "dag_id STRING REQUIRED", "run_id STRING", "task_id STRING REQUIRED",
              "map_index INT64", "status STRING REQUIRED", "created_at TIMESTAMP REQUIRED",
              "updated_at TIMESTAMP REQUIRED", "last_try_number INT64", "tries INT64", "operator STRING",
              "exception_type STRING", "message STRING", "traceback STRING", "fingerprint STRING",
              "hostname STRING", "error_type STRING", "confidence FLOAT64", "classifier STRING",
              "evidence STRING", "reason STRING", "log_note STRING", "recorded_at TIMESTAMP REQUIRED"),
        partition="created_at", clustering=("dag_id", "status"), key="incident_id",
        order="updated_at DESC, recorded_at DESC", clock=("recorded_at",)),
    TableSpec(
        "ledger", "Every entry of the coordination store's append-only ledger; seq is its key there (a "
        "seq sent twice is one entry).",
        _cols("seq INT64 REQUIRED", "at TIMESTAMP REQUIRED", "kind STRING REQUIRED", "incident_id STRING",
              "payload STRING", "recorded_at TIMESTAMP REQUIRED"),
        partition="at", clustering=("kind", "incident_id"), key="seq", order="recorded_at DESC",
        clock=("recorded_at",)),
    TableSpec(
        "knowledge", "Versions of the knowledge-base records (their success and failure counts); the latest "
        "updated_at of a knowledge_id is the record.",
        _cols("knowledge_id STRING REQUIRED", "source STRING", "error_type STRING", "success_count INT64",
              "failure_count INT64", "record STRING", "updated_at TIMESTAMP REQUIRED"),
        partition="updated_at", clustering=("error_type",), key="knowledge_id"),
)}


def table_resource(project: str, dataset: str, spec: TableSpec) -> dict[str, Any]:
    """The ``tables.insert`` body of ``spec``: schema, day partition, clustering, and the schema version."""
    return {
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": spec.name},
        "description": spec.description,
        "schema": {"fields": [c.resource() for c in spec.columns]},
        "timePartitioning": {"type": "DAY", "field": spec.partition},
        "clustering": {"fields": list(spec.clustering)},
        "labels": {SCHEMA_LABEL: str(SCHEMA_VERSION)},
    }


# -- values as BigQuery takes them ------------------------------------------------------------------


def cut_text(value: Any, limit: int = MAX_TEXT_BYTES) -> str | None:
    """``value`` as valid UTF-8 text of at most ``limit`` bytes.

    Bytes and lone surrogates (a log read with ``surrogateescape``) become ``\\x..`` escapes instead
    of making BigQuery refuse the row; a cut text ends with how much was cut.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", "backslashreplace")
    else:
        text = value if isinstance(value, str) else str(value)
    raw = text.encode("utf-8", "backslashreplace")
    if len(raw) <= limit:
        return raw.decode("utf-8")
    marker = f"\n... [{len(raw) - limit} more bytes cut]".encode()
    return raw[:max(limit - len(marker), 0)].decode("utf-8", "ignore") + marker.decode()


def cut_json(value: Any, limit: int = MAX_JSON_BYTES) -> str:
    """``value`` as JSON text within ``limit`` bytes; one too large stays valid JSON (its head, as text)."""
    text = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    if len(text.encode("utf-8", "backslashreplace")) <= limit:
        return cut_text(text, limit) or ""
    return json.dumps({"truncated": True, "head": cut_text(text, limit // 2)}, ensure_ascii=False)


def timestamp(value: Any) -> str | None:
    """An ISO time as BigQuery's TIMESTAMP text (UTC), None for none or for what is not a time."""
    if value in (None, ""):
        return None
    try:
        return utc_iso(value)
    except (TypeError, ValueError):
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_stamp_lock = threading.Lock()
_last_stamp = 0


def version_stamp() -> str:
    """Now, to the microsecond, and later than any stamp this process gave before.

    Reads take the latest version of a row by these: two changes a millisecond apart (a failure and its
    classification) must not tie, or BigQuery would pick either.
    """
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns() // 1000, _last_stamp + 1)
        micros = _last_stamp
    return (_EPOCH + timedelta(microseconds=micros)).isoformat(timespec="microseconds")


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(max(delta.total_seconds(), 0.0), 3)


def row_id(table: str, row: dict[str, Any]) -> str:
    """The insertId of a row: a digest of its table and content (the times this process stamped aside),
    so that the same version sent twice (a retry, a replay, a callback and the watchdog recording one
    try) is one id, and two versions are two ids."""
    clock = TABLES[table].clock if table in TABLES else ()
    content = {k: v for k, v in row.items() if k not in clock}
    digest = hashlib.sha256(f"{table}\n{json.dumps(content, sort_keys=True, default=str)}".encode())
    return digest.hexdigest()[:40]


def try_job_id(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """The ``pipeline_jobs`` id of one Airflow try (the same key as the Pub/Sub event's)."""
    return f"{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}"


def is_external(dag_id: str) -> bool:
    """An incident of a job outside Airflow: its own ``pipeline_jobs`` row comes from the poller."""
    return dag_id.startswith("external:")


# -- rows ---------------------------------------------------------------------------------------------


def incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "incident_id": incident.id, "dag_id": incident.dag_id, "run_id": incident.run_id,
        "task_id": incident.task_id, "map_index": incident.map_index, "status": incident.status.value,
        "created_at": timestamp(incident.created_at), "updated_at": timestamp(incident.updated_at),
        "last_try_number": incident.last_try_number, "tries": len(incident.failures),
        "operator": cut_text(incident.operator), "exception_type": cut_text(incident.exception_type),
        "message": cut_text(incident.message), "traceback": cut_text(incident.traceback),
        "fingerprint": cut_text(incident.fingerprint), "hostname": cut_text(incident.hostname),
        "error_type": incident.error_type.value if incident.error_type else None,
        "confidence": incident.confidence, "classifier": incident.classifier,
        "evidence": cut_json(incident.evidence), "reason": cut_text(incident.reason),
        "log_note": cut_text(incident.log_note), "recorded_at": version_stamp(),
    }


def try_row(incident: Incident, failure: Failure) -> dict[str, Any]:
    """The ``pipeline_jobs`` row of one failed Airflow try, with the incident's current error type."""
    start = timestamp(failure.started_at) or timestamp(failure.failed_at) or timestamp(failure.captured_at) \
        or timestamp(incident.created_at)
    end = timestamp(failure.failed_at)
    return {
        "job_id": try_job_id(incident.dag_id, incident.run_id, incident.task_id, incident.map_index,
                             failure.try_number),
        "job_name": f"{incident.dag_id}.{incident.task_id}", "job_type": "airflow_task", "status": "failed",
        "start_time": start, "end_time": end, "duration_seconds": seconds_between(start, end),
        "error_message": cut_text(failure.message), "error_type": incident.error_type.value if incident.error_type
        else None, "project": "", "location": cut_text(failure.hostname) or "", "incident_id": incident.id,
        "dag_id": incident.dag_id, "run_id": incident.run_id, "task_id": incident.task_id,
        "map_index": incident.map_index, "try_number": failure.try_number, "updated_at": version_stamp(),
    }


def job_row(job: dict[str, Any]) -> dict[str, Any]:
    """The ``pipeline_jobs`` row of a polled job, as the coordination store keeps it."""
    start, end = timestamp(job.get("start_time")), timestamp(job.get("end_time"))
    duration = job.get("duration_seconds")
    return {
        "job_id": str(job["job_id"]), "job_name": cut_text(job.get("job_name") or ""),
        "job_type": str(job["job_type"]), "status": str(job.get("status") or ""), "start_time": start,
        "end_time": end, "duration_seconds": float(duration) if duration is not None else seconds_between(start, end),
        "error_message": cut_text(job.get("error_message") or ""), "error_type": job.get("error_type"),
        "project": cut_text(job.get("project") or ""), "location": cut_text(job.get("location") or ""),
        "incident_id": job.get("incident_id"), "dag_id": None, "run_id": None, "task_id": None,
        "map_index": None, "try_number": None, "updated_at": timestamp(job.get("updated_at")) or utcnow(),
    }


def action_row(incident: Incident, action: Action) -> dict[str, Any]:
    started = timestamp(action.started_at) or utcnow()
    finished = timestamp(action.finished_at)
    success = {Outcome.SUCCESS: True, Outcome.FAILED: False}.get(action.outcome)
    return {
        "action_id": int(action.id or 0), "incident_id": incident.id,
        "job_id": try_job_id(incident.dag_id, incident.run_id, incident.task_id, incident.map_index,
                             incident.last_try_number),
        "dag_id": incident.dag_id, "task_id": incident.task_id,
        "error_type": incident.error_type.value if incident.error_type else None,
        "strategy": action.strategy, "attempt": action.attempt, "outcome": action.outcome.value,
        "success": success, "detail": cut_text(action.detail), "risky": bool(action.risky),
        "execution_time": started, "finished_at": finished, "duration_seconds": seconds_between(started, finished),
        "updated_at": version_stamp(),
    }


def ledger_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {"seq": int(entry["seq"]), "at": timestamp(entry.get("at")) or utcnow(), "kind": str(entry["kind"]),
            "incident_id": entry.get("incident_id"), "payload": cut_json(entry.get("payload", {})),
            "recorded_at": version_stamp()}


def knowledge_row(record: dict[str, Any], source: str = "") -> dict[str, Any]:
    def count(key: str) -> int | None:
        try:
            return int(record[key]) if record.get(key) is not None else None
        except (TypeError, ValueError):
            return None

    error_type = record.get("error_type")
    return {"knowledge_id": str(record["id"]), "source": cut_text(source or record.get("source") or ""),
            "error_type": str(getattr(error_type, "value", error_type)) if error_type else None,
            "success_count": count("success_count"), "failure_count": count("failure_count"),
            "record": cut_json(record), "updated_at": version_stamp()}


@dataclass(frozen=True)
class Row:
    """One row on its way to a table; ``row_id`` is its insertId."""

    table: str
    row_id: str
    row: dict[str, Any]

    @classmethod
    def of(cls, table: str, row: dict[str, Any]) -> Row:
        return cls(table, row_id(table, row), row)

    def line(self, reason: str) -> bytes:
        return (json.dumps({"table": self.table, "row_id": self.row_id, "row": self.row, "reason": reason,
                            "spooled_at": utcnow()}, ensure_ascii=False) + "\n").encode("utf-8")

    def size(self) -> int:
        return len(json.dumps(self.row, ensure_ascii=False).encode("utf-8")) + len(self.row_id) + 32


def schema_version_of(labels: dict[str, str] | None) -> int:
    """The schema version a table's labels record (0: none, an older version's table)."""
    try:
        return int((labels or {}).get(SCHEMA_LABEL, "0"))
    except ValueError:
        return 0
