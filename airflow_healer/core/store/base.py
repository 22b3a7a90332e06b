"""The Store port: a handful of methods over the core's dataclasses.

Adapters (SQLite here; PostgreSQL and BigQuery beside it) keep incidents, their failures and
actions, and an append-only ledger of every change. Model and index files are kept as bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from airflow_healer.core.types import Action, Classification, Failure, Incident, IncidentStatus, Outcome

#: The version of the stores' schema this airflow_healer reads and writes (every adapter the same).
SCHEMA_VERSION = 8
#: The most incidents one page of ``incident_page`` returns, whatever ``limit`` asks for.
MAX_PAGE = 500
#: The statuses of an incident someone or something still has to act on.
ACTIVE_STATUSES = (IncidentStatus.OPEN, IncidentStatus.HEALING, IncidentStatus.ESCALATED)


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def utc_iso(moment: datetime | str) -> str:
    """``moment`` as the store writes times (UTC, milliseconds, ``+00:00``), so that strings compare as times.

    A naive datetime or string is taken as UTC; raises ValueError for text that is not an ISO time.
    """
    if isinstance(moment, str):
        # Python 3.10's fromisoformat does not read a trailing Z.
        moment = datetime.fromisoformat(moment[:-1] + "+00:00" if moment.endswith(("Z", "z")) else moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def encode_cursor(created_at: str, incident_id: str) -> str:
    """The opaque ``next`` of a page: where the next page starts (the last incident shown)."""
    return base64.urlsafe_b64encode(json.dumps([created_at, incident_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(created_at, id) from :func:`encode_cursor`; ValueError for anything else."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ValueError(f"Invalid page cursor {cursor[:40]!r}: pass back the `next` of the previous page, "
                         "or leave it out for the first page.")
    return value[0], value[1]


def linear_forecast(counts: Sequence[float], ahead: int = 7) -> list[float]:
    """The least-squares line through ``counts`` (one a day) carried ``ahead`` days on, never below 0."""
    n = len(counts)
    if n == 0:
        return [0.0] * ahead
    mean_x, mean_y = (n - 1) / 2, sum(counts) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(counts)) / spread if spread else 0.0
    return [round(max(0.0, mean_y + slope * (x - mean_x)), 3) for x in range(n, n + ahead)]


#: Payload keys an event's one-line text is made of, in this order.
_EVENT_KEYS = ("task", "strategy", "error_type", "outcome", "status", "by", "reason", "detail", "note", "name")


def event_text(kind: str, payload: dict[str, Any], width: int = 160) -> str:
    """A ledger entry in a line for a feed: ``etl.extract try 2``, ``retry pending``, ``recovered``."""
    parts = [str(payload[k]) for k in _EVENT_KEYS if payload.get(k) not in (None, "")]
    if kind == "failure" and payload.get("try_number") is not None:
        parts.insert(1, f"try {payload['try_number']}")
    return " ".join(parts)[:width]


@runtime_checkable
class Store(Protocol):
    def record_failure(self, failure: Failure) -> str:
        """Record one failed try; returns the incident's id.

        Idempotent: the same (dag_id, run_id, task_id, map_index, try_number) recorded twice (a
        callback firing twice, a callback and the watchdog) keeps one failure row.
        """

    def add_log(self, incident_id: str, try_number: int, *, excerpt: str, lines: list[dict[str, Any]],
                note: str = "", message: str | None = None, fingerprint: str | None = None) -> None:
        """Attach what a try's log says (its tail, the located lines, a note) to that try's failure."""

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def find_incident(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Incident | None: ...

    def list_incidents(
        self, *, dag_id: str | None = None, run_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Incident]: ...

    def set_classification(self, incident_id: str, classification: Classification) -> None: ...

    def set_status(self, incident_id: str, status: IncidentStatus, reason: str = "") -> None: ...

    def add_action(self, incident_id: str, action: Action) -> int: ...

    def finish_action(self, action_id: int, outcome: Outcome, detail: str = "", *, only_pending: bool = False) -> bool:
        """Record an action's outcome (with ``only_pending``: unless one is recorded); True if this call did."""

    def claim(self, incident_id: str, owner: str, lease_seconds: float = 600.0) -> bool:
        """Take the incident for ``owner`` unless another owner holds an unexpired lease."""

    def release(self, incident_id: str, owner: str) -> None: ...

    def ledger(self, incident_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]: ...

    def put_knowledge(self, records: list[dict[str, Any]], source: str = "") -> None:
        """Insert or replace knowledge-base records (plain dicts with an ``id``), all or none."""

    def record_knowledge_outcome(self, record: dict[str, Any], success: bool) -> dict[str, Any]:
        """Count one success or failure on a knowledge record (created from ``record`` if new), atomically."""

    def list_knowledge(self) -> list[dict[str, Any]]: ...

    def add_proposal(self, incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                     content: dict[str, Any] | None = None, waiter: str = "") -> dict[str, Any]:
        """A pending proposal for a person, expiring after ``ttl_seconds``: ``content`` says exactly what
        is proposed, ``waiter`` names the healer task waiting for the decision."""

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None: ...

    def list_proposals(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...

    def get_pipeline_job(self, job_id: str) -> dict[str, Any] | None:
        """One polled job's row, or None."""

    def upsert_pipeline_job(self, job: dict[str, Any]) -> None:
        """Keep a polled external job (Dataflow, Workflows, BigQuery), updated when seen again."""

    def list_pipeline_jobs(self, *, job_type: str | None = None, status: str | None = None, limit: int = 50,
                           offset: int = 0) -> list[dict[str, Any]]: ...

    def strategy_record(self, strategy: str, *, days: int = 90) -> dict[str, Any]:
        """Success and failure counts of a strategy's actions over the last ``days`` days."""

    def decide_proposal(self, proposal_id: str, approve: bool, user: str, note: str = "") -> dict[str, Any]:
        """Approve or reject a pending proposal once; raises StoreError when decided already or expired."""

    def act_once(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 actor: str, strategy: str) -> bool:
        """True for the first caller that acts on this failed try; False for every later one."""

    def acted_by(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str | None:
        """Who acted on that failed try, or None."""

    def record_tier(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, name: str,
                    ladder: list[Any], rung: int) -> None:
        """Remember which rung of a ``healer.tier`` ladder a try rendered."""

    def tiers(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """The ladders (name, ladder, rung, try_number) of the task instance's latest rendered try."""

    def put_blob(self, name: str, data: bytes, meta: dict[str, Any] | None = None) -> None: ...

    def get_blob(self, name: str) -> bytes | None: ...

    def list_blobs(self, prefix: str = "") -> list[dict[str, Any]]: ...

    # What the Healer page shows, computed in the store a page at a time (never every row in Python).

    def similar_incidents(self, incident_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """Other incidents with the same fingerprint, newest first, as summaries."""

    def incident_page(self, *, dag_id: str | None = None, status: str | None = None, error_type: str | None = None,
                      search: str | None = None, since: datetime | str | None = None, limit: int = 50,
                      before: str | None = None) -> dict[str, Any]:
        """Incident summaries, newest first: ``{"incidents": [...], "next": cursor | None, "total": int}``.

        :param search: a case-insensitive substring of the DAG id, task id or message (% and _ are literal).
        :param since: only incidents created at or after this time.
        :param limit: incidents a page (at most :data:`MAX_PAGE`).
        :param before: the ``next`` of the previous page; raises ValueError for a cursor that is not one.
        """

    def overview(self, *, now: datetime | str | None = None, window_hours: float = 24) -> dict[str, Any]:
        """Counts by status, the active incidents, DAG health in the window, pending proposals, recent events."""

    def analytics(self, *, days: int = 30, now: datetime | str | None = None) -> dict[str, Any]:
        """Daily counts (zero-filled), error types, strategy success rates, time to recovery, top DAGs and
        tasks, and a 7-day forecast, over the last ``days`` UTC days."""

