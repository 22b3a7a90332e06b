"""The Store port: a handful of methods over the core's dataclasses.

Adapters (SQLite here; PostgreSQL and BigQuery beside it) keep incidents, their failures and
actions, and an append-only ledger of every change. Model and index files are kept as bytes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from airflow_healer.core.types import Action, Classification, Failure, Incident, IncidentStatus, Outcome


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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

    def list_proposals(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

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

