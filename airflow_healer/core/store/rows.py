"""What every SQL adapter does alike: rows in and out of the core's dataclasses and the page's dicts.

The adapters differ in their SQL; a row of ``incidents`` or ``proposals`` means the same in each,
so its translation lives here once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_healer.core.store.base import event_text, linear_forecast, utcnow
from airflow_healer.core.types import Action, ErrorType, Failure, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import StoreError

#: The columns of an incident's summary (a row of the incident list), long texts cut.
SUMMARY = ("id, dag_id, task_id, run_id, map_index, error_type, confidence, status, substr(reason, 1, 300) AS reason,"
           " substr(message, 1, 300) AS message, created_at, updated_at, last_try_number")
#: The median time to recovery is of the newest this many recoveries: sorting them all would cost
#: more than all the rest of ``analytics`` on a million incidents.
MEDIAN_SAMPLE = 50_000
#: The fields of a polled job beside its ``job_id``, as ``pipeline_jobs`` keeps them.
JOB_FIELDS = ("job_name", "job_type", "status", "start_time", "end_time", "duration_seconds", "error_message",
              "error_type", "project", "location", "incident_id")


def where(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def like_escaped(text: str) -> str:
    """``text`` for a LIKE with ``ESCAPE '\\'``: its %, _ and backslashes match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def failure_params(failure: Failure) -> dict[str, Any]:
    """The columns a failure row (and its incident's copy of the latest try) is written with."""
    return {"try_number": failure.try_number, "operator": failure.operator, "exception_type": failure.exception_type,
            "message": failure.message, "traceback": failure.traceback, "fingerprint": failure.fingerprint,
            "hostname": failure.hostname, "started_at": failure.started_at, "failed_at": failure.failed_at,
            "source": failure.source, "log_excerpt": failure.log_excerpt, "log_lines": json.dumps(failure.log_lines),
            "log_note": failure.log_note, "conn_ids": json.dumps(failure.conn_ids)}


def failure_event(failure: Failure) -> dict[str, Any]:
    """The ledger payload of a newly recorded failure."""
    return {"task": f"{failure.dag_id}.{failure.task_id}", "run_id": failure.run_id, "map_index": failure.map_index,
            "try_number": failure.try_number, "source": failure.source, "fingerprint": failure.fingerprint}


def incident(row: Mapping[str, Any], failures: Iterable[Mapping[str, Any]],
             actions: Iterable[Mapping[str, Any]]) -> Incident:
    """An :class:`Incident` from its row, its failure rows (by try) and its action rows (by id)."""
    return Incident(
        id=row["id"], dag_id=row["dag_id"], task_id=row["task_id"], run_id=row["run_id"],
        map_index=row["map_index"], status=IncidentStatus(row["status"]), created_at=row["created_at"],
        updated_at=row["updated_at"], last_try_number=row["last_try_number"], operator=row["operator"],
        exception_type=row["exception_type"], message=row["message"], traceback=row["traceback"],
        fingerprint=row["fingerprint"], hostname=row["hostname"],
        error_type=ErrorType(row["error_type"]) if row["error_type"] else None,
        confidence=row["confidence"], classifier=row["classifier"], evidence=json.loads(row["evidence"]),
        reason=row["reason"], log_excerpt=row["log_excerpt"], log_lines=json.loads(row["log_lines"]),
        log_note=row["log_note"], conn_ids=json.loads(row["conn_ids"]),
        failures=[
            Failure(dag_id=row["dag_id"], task_id=row["task_id"], run_id=row["run_id"], map_index=row["map_index"],
                    try_number=f["try_number"], operator=f["operator"], exception_type=f["exception_type"],
                    message=f["message"], traceback=f["traceback"], fingerprint=f["fingerprint"],
                    hostname=f["hostname"], started_at=f["started_at"], failed_at=f["failed_at"],
                    captured_at=f["captured_at"], source=f["source"], log_excerpt=f["log_excerpt"],
                    log_lines=json.loads(f["log_lines"]), log_note=f["log_note"], conn_ids=json.loads(f["conn_ids"]))
            for f in failures],
        actions=[
            Action(id=a["id"], incident_id=a["incident_id"], strategy=a["strategy"], attempt=a["attempt"],
                   outcome=Outcome(a["outcome"]), detail=a["detail"], risky=bool(a["risky"]),
                   started_at=a["started_at"], finished_at=a["finished_at"])
            for a in actions],
    )


def new_proposal(incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                 content: dict[str, Any] | None, waiter: str) -> dict[str, Any]:
    """The row of a new pending proposal (``content`` as JSON text)."""
    now = datetime.now(timezone.utc)
    return {"id": uuid.uuid4().hex[:12], "incident_id": incident.id, "dag_id": incident.dag_id,
            "run_id": incident.run_id, "task_id": incident.task_id, "map_index": incident.map_index,
            "strategy": strategy, "change": change, "status": "pending",
            "created_at": now.isoformat(timespec="milliseconds"),
            "expires_at": (now + timedelta(seconds=ttl_seconds)).isoformat(timespec="milliseconds"),
            "decided_by": None, "decided_at": None, "note": "",
            "content": json.dumps(content or {}, default=str), "waiter": waiter}


def proposal_event(row: Mapping[str, Any], content: dict[str, Any] | None) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "strategy", "change", "expires_at")} | {"content": content or {}}


def proposal(row: Mapping[str, Any]) -> dict[str, Any]:
    """A proposal's row as the API gives it: ``content`` parsed, a pending one past its time ``expired``."""
    out = dict(row)
    try:
        out["content"] = json.loads(out.get("content") or "{}")
    except ValueError:
        out["content"] = {}
    if out["status"] == "pending" and out["expires_at"] < utcnow():
        out["status"] = "expired"
    return out


def check_decidable(proposal_id: str, row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The proposal that ``row`` is, if it may still be decided; a StoreError that says why not."""
    if row is None:
        raise StoreError(f"No proposal {proposal_id!r}; `airflow-healer proposals list` shows them.")
    current = proposal(row)
    if current["status"] != "pending":
        by = f" by {current['decided_by']} at {current['decided_at']}" if current["decided_by"] else ""
        raise StoreError(f"Proposal {proposal_id} is already {current['status']}{by}; nothing was done.")
    return current


def pipeline_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """The ``pipeline_jobs`` row of a polled job; StoreError without the fields that identify it."""
    if not job.get("job_id") or not job.get("job_type") or not job.get("status"):
        raise StoreError("A pipeline job needs job_id, job_type and status.")
    row = {"job_id": str(job["job_id"]), **{k: job.get(k) for k in JOB_FIELDS}, "updated_at": utcnow()}
    for key in ("job_name", "error_message", "project", "location"):
        row[key] = str(row[key] or "")[:8000]
    return row


def ledger_entries(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows, newest first as queried, oldest first as returned, payloads parsed."""
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in reversed(list(rows))]


def feed(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows as the overview's event feed: one line of text each."""
    out = []
    for e in events:
        try:
            payload = json.loads(e["payload"])
        except ValueError:
            payload = {}
        out.append({"seq": e["seq"], "at": e["at"], "kind": e["kind"], "incident_id": e["incident_id"],
                    "text": event_text(e["kind"], payload if isinstance(payload, dict) else {})})
    return out


def strategy_rates(outcomes: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """(strategy, outcome, count) groups as rows of success, failed, total and success_rate, most used first."""
    by_strategy: dict[str, dict[str, Any]] = {}
    for strategy, outcome, n in outcomes:
        row = by_strategy.setdefault(strategy, {"strategy": strategy, "success": 0, "failed": 0, "total": 0})
        row["total"] += n
        if outcome in (Outcome.SUCCESS.value, Outcome.FAILED.value):
            row[outcome] += n
    strategies = sorted(by_strategy.values(), key=lambda r: (-r["total"], r["strategy"]))
    for row in strategies:
        decided = row["success"] + row["failed"]
        row["success_rate"] = round(row["success"] / decided, 4) if decided else None
    return strategies


def strategy_record(strategy: str, days: int, success: int, failed: int) -> dict[str, Any]:
    return {"strategy": strategy, "days": days, "success": success, "failed": failed,
            "success_rate": round(success / (success + failed), 4) if success + failed else None}


def analytics(*, days: int, today: date, daily: list[dict[str, Any]], error_types: list[dict[str, Any]],
              outcomes: Iterable[tuple[str, str, int]], recovered: int, mean_seconds: float | None,
              median_seconds: float | None, median_of: int, top_dags: list[dict[str, Any]],
              top_tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The dict ``Store.analytics`` returns, from what an adapter's queries found."""
    since, until = (today - timedelta(days=days - 1)).isoformat(), (today + timedelta(days=1)).isoformat()
    ahead = linear_forecast([d["count"] for d in daily])
    return {
        "days": days, "since": since, "until": until, "total": sum(d["count"] for d in daily), "daily": daily,
        "error_types": error_types, "strategies": strategy_rates(outcomes),
        "recovery": {"count": recovered, "mean_seconds": round(mean_seconds, 3) if mean_seconds is not None else None,
                     "median_seconds": round(median_seconds, 3) if median_seconds is not None else None,
                     "median_of": median_of},
        "top_dags": top_dags, "top_tasks": top_tasks,
        "forecast": [{"date": (today + timedelta(days=i + 1)).isoformat(), "count": c} for i, c in enumerate(ahead)],
    }
