"""The embedded default store: one SQLite file, safe for many task processes at once.

Each call opens its own short connection (WAL journal, a busy timeout, ``BEGIN IMMEDIATE`` for
writes), so callbacks in separate processes and threads never share a handle and never see
"database is locked" within the timeout. The ledger is append-only: triggers refuse UPDATE and
DELETE on it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_healer.core.store.base import utcnow
from airflow_healer.core.types import (
    Action,
    Classification,
    ErrorType,
    Failure,
    Incident,
    IncidentStatus,
    Outcome,
)
from airflow_healer.exceptions import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
#: Columns added after a version, for stores written by older versions: (table, column, definition).
_ADDED = [
    (3, table, column, definition)
    for table in ("incidents", "failures")
    for column, definition in (("log_excerpt", "TEXT NOT NULL DEFAULT ''"), ("log_lines", "TEXT NOT NULL DEFAULT '[]'"),
                               ("log_note", "TEXT NOT NULL DEFAULT ''"))
] + [(4, table, "conn_ids", "TEXT NOT NULL DEFAULT '[]'") for table in ("incidents", "failures")] + [
    (5, "proposals", "content", "TEXT NOT NULL DEFAULT '{}'"),
    (5, "proposals", "waiter", "TEXT NOT NULL DEFAULT ''"),
]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL DEFAULT -1,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_try_number INTEGER NOT NULL,
    operator TEXT,
    exception_type TEXT,
    message TEXT NOT NULL DEFAULT '',
    traceback TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    hostname TEXT,
    error_type TEXT,
    confidence REAL,
    classifier TEXT,
    evidence TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    log_excerpt TEXT NOT NULL DEFAULT '',
    log_lines TEXT NOT NULL DEFAULT '[]',
    log_note TEXT NOT NULL DEFAULT '',
    conn_ids TEXT NOT NULL DEFAULT '[]',
    claimed_by TEXT,
    claimed_until TEXT,
    UNIQUE (dag_id, run_id, task_id, map_index)
);
CREATE INDEX IF NOT EXISTS incidents_created ON incidents (created_at);
CREATE INDEX IF NOT EXISTS incidents_fingerprint ON incidents (fingerprint);
CREATE TABLE IF NOT EXISTS failures (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    try_number INTEGER NOT NULL,
    operator TEXT,
    exception_type TEXT,
    message TEXT NOT NULL DEFAULT '',
    traceback TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    hostname TEXT,
    started_at TEXT,
    failed_at TEXT,
    captured_at TEXT NOT NULL,
    source TEXT NOT NULL,
    log_excerpt TEXT NOT NULL DEFAULT '',
    log_lines TEXT NOT NULL DEFAULT '[]',
    log_note TEXT NOT NULL DEFAULT '',
    conn_ids TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (incident_id, try_number)
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    strategy TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    risky INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    incident_id TEXT,
    payload TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TABLE IF NOT EXISTS knowledge (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tiers (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    name TEXT NOT NULL,
    ladder TEXT NOT NULL,
    rung INTEGER NOT NULL,
    rendered_at TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, name)
);
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    change TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '{}',
    waiter TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS acted (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    actor TEXT NOT NULL,
    strategy TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number)
);
CREATE TABLE IF NOT EXISTS blobs (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
"""


class SQLiteStore:
    """Incidents in a SQLite file.

    One connection per store object and process, shared by its threads under a lock: opening and
    closing a connection per call would checkpoint the WAL (an fsync) on every close, which costs
    a failure callback ~15 ms instead of well under 1 ms.

    :param path: the database file; its folder is created when missing.
    :param timeout: seconds a write waits for another writer before giving up.
    """

    def __init__(self, path: str | Path, *, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- connection handling -------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # First use, or a forked child: never reuse a parent's handle.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"Cannot open the healer store {self.path}: {exc}. "
                                   "Check that the folder exists and is writable, or set [healer] store_url.") from exc
        conn.row_factory = sqlite3.Row
        try:
            # WAL + NORMAL: a commit survives the writing process dying (what a task does) without
            # an fsync each time; only an OS crash or power loss can drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._init_schema(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"Cannot prepare the healer store {self.path}: {exc}") from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            for added_in, table, column, definition in _ADDED:
                # A store from before this column: CREATE TABLE IF NOT EXISTS left the old table as it was.
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if version < added_in and column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                if write:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if write:
                    conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                cls = StoreUnavailable if "locked" in str(exc) or "unable to open" in str(exc) else StoreError
                raise cls(f"Healer store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"Healer store {self.path}: {exc}") from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _log(conn: sqlite3.Connection, kind: str, incident_id: str | None, payload: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO ledger (at, kind, incident_id, payload) VALUES (?, ?, ?, ?)",
            (utcnow(), kind, incident_id, json.dumps(payload, default=str, sort_keys=True)),
        )

    # -- incidents ---------------------------------------------------------------------

    def record_failure(self, failure: Failure) -> str:
        now = utcnow()
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, last_try_number FROM incidents WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=?",
                (failure.dag_id, failure.run_id, failure.task_id, failure.map_index),
            ).fetchone()
            if row is None:
                incident_id = uuid.uuid4().hex
                conn.execute(
                    "INSERT INTO incidents (id, dag_id, run_id, task_id, map_index, status, created_at, updated_at,"
                    " last_try_number, operator, exception_type, message, traceback, fingerprint, hostname,"
                    " log_excerpt, log_lines, log_note, conn_ids)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (incident_id, failure.dag_id, failure.run_id, failure.task_id, failure.map_index,
                     IncidentStatus.OPEN.value, now, now, failure.try_number, failure.operator,
                     failure.exception_type, failure.message, failure.traceback, failure.fingerprint,
                     failure.hostname, failure.log_excerpt, json.dumps(failure.log_lines), failure.log_note,
                     json.dumps(failure.conn_ids)),
                )
            else:
                incident_id = row["id"]
                if failure.try_number >= row["last_try_number"] and failure.message:
                    conn.execute(
                        "UPDATE incidents SET updated_at=?, last_try_number=?, operator=COALESCE(?, operator),"
                        " exception_type=?, message=?, traceback=?, fingerprint=?, hostname=?,"
                        " log_excerpt=?, log_lines=?, log_note=?,"
                        " conn_ids=CASE WHEN ?='[]' THEN conn_ids ELSE ? END WHERE id=?",
                        (now, failure.try_number, failure.operator, failure.exception_type, failure.message,
                         failure.traceback, failure.fingerprint, failure.hostname, failure.log_excerpt,
                         json.dumps(failure.log_lines), failure.log_note, json.dumps(failure.conn_ids),
                         json.dumps(failure.conn_ids), incident_id),
                    )
            inserted = conn.execute(
                "INSERT OR IGNORE INTO failures (incident_id, try_number, operator, exception_type, message,"
                " traceback, fingerprint, hostname, started_at, failed_at, captured_at, source,"
                " log_excerpt, log_lines, log_note, conn_ids)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, failure.try_number, failure.operator, failure.exception_type, failure.message,
                 failure.traceback, failure.fingerprint, failure.hostname, failure.started_at, failure.failed_at,
                 failure.captured_at or now, failure.source, failure.log_excerpt, json.dumps(failure.log_lines),
                 failure.log_note, json.dumps(failure.conn_ids)),
            ).rowcount
            if inserted:
                self._log(conn, "failure", incident_id, {
                    "task": f"{failure.dag_id}.{failure.task_id}", "run_id": failure.run_id,
                    "map_index": failure.map_index, "try_number": failure.try_number, "source": failure.source,
                    "fingerprint": failure.fingerprint,
                })
        return incident_id

    def add_log(self, incident_id: str, try_number: int, *, excerpt: str, lines: list[dict[str, Any]],
                note: str = "", message: str | None = None, fingerprint: str | None = None) -> None:
        """Attach what a try's log says to its failure (and to the incident, for its latest try).

        :param message: replaces the failure's message when the capture had none worth keeping
            (a try recorded from the API, a killed task).
        """
        with self._tx() as conn:
            conn.execute(
                "UPDATE failures SET log_excerpt=?, log_lines=?, log_note=?, message=COALESCE(?, message),"
                " fingerprint=COALESCE(?, fingerprint) WHERE incident_id=? AND try_number=?",
                (excerpt, json.dumps(lines), note, message, fingerprint, incident_id, try_number),
            )
            conn.execute(
                "UPDATE incidents SET log_excerpt=?, log_lines=?, log_note=?, message=COALESCE(?, message),"
                " fingerprint=COALESCE(?, fingerprint), updated_at=? WHERE id=? AND last_try_number=?",
                (excerpt, json.dumps(lines), note, message, fingerprint, utcnow(), incident_id, try_number),
            )
            self._log(conn, "log", incident_id, {"try_number": try_number, "lines": len(lines), "note": note})

    def _incident(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Incident:
        failures = [
            Failure(dag_id=row["dag_id"], task_id=row["task_id"], run_id=row["run_id"], map_index=row["map_index"],
                    try_number=f["try_number"], operator=f["operator"], exception_type=f["exception_type"],
                    message=f["message"], traceback=f["traceback"], fingerprint=f["fingerprint"],
                    hostname=f["hostname"], started_at=f["started_at"], failed_at=f["failed_at"],
                    captured_at=f["captured_at"], source=f["source"], log_excerpt=f["log_excerpt"],
                    log_lines=json.loads(f["log_lines"]), log_note=f["log_note"], conn_ids=json.loads(f["conn_ids"]))
            for f in conn.execute("SELECT * FROM failures WHERE incident_id=? ORDER BY try_number", (row["id"],))
        ]
        actions = [
            Action(id=a["id"], incident_id=a["incident_id"], strategy=a["strategy"], attempt=a["attempt"],
                   outcome=Outcome(a["outcome"]), detail=a["detail"], risky=bool(a["risky"]),
                   started_at=a["started_at"], finished_at=a["finished_at"])
            for a in conn.execute("SELECT * FROM actions WHERE incident_id=? ORDER BY id", (row["id"],))
        ]
        return Incident(
            id=row["id"], dag_id=row["dag_id"], task_id=row["task_id"], run_id=row["run_id"],
            map_index=row["map_index"], status=IncidentStatus(row["status"]), created_at=row["created_at"],
            updated_at=row["updated_at"], last_try_number=row["last_try_number"], operator=row["operator"],
            exception_type=row["exception_type"], message=row["message"], traceback=row["traceback"],
            fingerprint=row["fingerprint"], hostname=row["hostname"],
            error_type=ErrorType(row["error_type"]) if row["error_type"] else None,
            confidence=row["confidence"], classifier=row["classifier"], evidence=json.loads(row["evidence"]),
            reason=row["reason"], log_excerpt=row["log_excerpt"], log_lines=json.loads(row["log_lines"]),
            log_note=row["log_note"], conn_ids=json.loads(row["conn_ids"]), failures=failures, actions=actions,
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM incidents WHERE id=?", (incident_id,)).fetchone()
            return self._incident(conn, row) if row else None

    def find_incident(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Incident | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT * FROM incidents WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=?",
                (dag_id, run_id, task_id, map_index),
            ).fetchone()
            return self._incident(conn, row) if row else None

    def list_incidents(
        self, *, dag_id: str | None = None, run_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Incident]:
        clauses, params = [], []
        for column, value in (("dag_id", dag_id), ("run_id", run_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                f"SELECT * FROM incidents {where} ORDER BY created_at DESC, id LIMIT ?", (*params, int(limit))
            ).fetchall()
            return [self._incident(conn, row) for row in rows]

    def set_classification(self, incident_id: str, classification: Classification) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE incidents SET error_type=?, confidence=?, classifier=?, evidence=?, updated_at=? WHERE id=?",
                (classification.error_type.value, classification.confidence, classification.classifier,
                 json.dumps(classification.evidence), utcnow(), incident_id),
            )
            self._log(conn, "classified", incident_id, classification.as_dict())

    def set_status(self, incident_id: str, status: IncidentStatus, reason: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE incidents SET status=?, reason=?, updated_at=? WHERE id=?",
                (status.value, reason, utcnow(), incident_id),
            )
            self._log(conn, "status", incident_id, {"status": status.value, "reason": reason})

    def add_action(self, incident_id: str, action: Action) -> int:
        action = replace(action, incident_id=incident_id, started_at=action.started_at or utcnow())
        with self._tx() as conn:
            action_id = conn.execute(
                "INSERT INTO actions (incident_id, strategy, attempt, outcome, detail, risky, started_at, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, action.strategy, action.attempt, action.outcome.value, action.detail,
                 int(action.risky), action.started_at, action.finished_at),
            ).lastrowid
            self._log(conn, "action", incident_id, {**asdict(action), "id": action_id, "outcome": action.outcome.value})
        return int(action_id)

    def finish_action(self, action_id: int, outcome: Outcome, detail: str = "", *, only_pending: bool = False) -> bool:
        """Record how an action came out; with ``only_pending``, only if nobody did yet (returns whether
        this call did: the healer task and a task's success callback may both see the same outcome)."""
        with self._tx() as conn:
            row = conn.execute("SELECT incident_id FROM actions WHERE id=?", (action_id,)).fetchone()
            if row is None:
                raise StoreError(f"No action {action_id} in the healer store {self.path}.")
            done = conn.execute(
                # What the action did stays; what came of it is added.
                "UPDATE actions SET outcome=?, detail=CASE WHEN ?='' THEN detail WHEN detail='' THEN ?"
                " ELSE detail || '; ' || ? END, finished_at=? WHERE id=?" + (" AND outcome='pending'" if only_pending
                                                                            else ""),
                (outcome.value, detail, detail, detail, utcnow(), action_id),
            ).rowcount
            if done:
                self._log(conn, "outcome", row["incident_id"], {"action_id": action_id, "outcome": outcome.value,
                                                                 "detail": detail})
        return bool(done)

    def claim(self, incident_id: str, owner: str, lease_seconds: float = 600.0) -> bool:
        now = datetime.now(timezone.utc)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="milliseconds")
        with self._tx() as conn:
            taken = conn.execute(
                "UPDATE incidents SET claimed_by=?, claimed_until=? WHERE id=?"
                " AND (claimed_by IS NULL OR claimed_by=? OR claimed_until < ?)",
                (owner, until, incident_id, owner, now.isoformat(timespec="milliseconds")),
            ).rowcount
            if taken:
                self._log(conn, "claimed", incident_id, {"owner": owner, "until": until})
        return bool(taken)

    def release(self, incident_id: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE incidents SET claimed_by=NULL, claimed_until=NULL WHERE id=? AND claimed_by=?",
                (incident_id, owner),
            )

    def ledger(self, incident_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self._tx(write=False) as conn:
            if incident_id is None:
                rows = conn.execute("SELECT * FROM ledger ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM ledger WHERE incident_id=? ORDER BY seq DESC LIMIT ?", (incident_id, limit)
                ).fetchall()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in reversed(rows)]

    # -- proposals: risky fixes wait for a person ----------------------------------------------

    def add_proposal(self, incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                     content: dict[str, Any] | None = None, waiter: str = "") -> dict[str, Any]:
        """A pending proposal for ``incident`` that expires after ``ttl_seconds``; returns it.

        :param content: what exactly is proposed (see ``core.remediate.proposals.propose``).
        :param waiter: the healer task that waits for the decision (its Required Actions entry).
        """
        now = datetime.now(timezone.utc)
        row = {"id": uuid.uuid4().hex[:12], "incident_id": incident.id, "dag_id": incident.dag_id,
               "run_id": incident.run_id, "task_id": incident.task_id, "map_index": incident.map_index,
               "strategy": strategy, "change": change, "status": "pending",
               "created_at": now.isoformat(timespec="milliseconds"),
               "expires_at": (now + timedelta(seconds=ttl_seconds)).isoformat(timespec="milliseconds"),
               "decided_by": None, "decided_at": None, "note": "",
               "content": json.dumps(content or {}, default=str), "waiter": waiter}
        with self._tx() as conn:
            conn.execute(f"INSERT INTO proposals ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
            self._log(conn, "proposal", incident.id, {k: row[k] for k in ("id", "strategy", "change", "expires_at")}
                      | {"content": content or {}})
        return {**row, "content": content or {}}

    @staticmethod
    def _proposal(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        try:
            out["content"] = json.loads(out.get("content") or "{}")
        except ValueError:
            out["content"] = {}
        if out["status"] == "pending" and out["expires_at"] < utcnow():
            out["status"] = "expired"
        return out

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM proposals WHERE id=?", (proposal_id,)).fetchone()
        return self._proposal(row) if row else None

    def list_proposals(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM proposals ORDER BY created_at DESC LIMIT ?", (int(limit),)).fetchall()
        out = [self._proposal(r) for r in rows]
        return [p for p in out if status is None or p["status"] == status]

    def decide_proposal(self, proposal_id: str, approve: bool, user: str, note: str = "") -> dict[str, Any]:
        """Approve or reject a pending proposal, once; a clear error when it is decided or expired."""
        now = utcnow()
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM proposals WHERE id=?", (proposal_id,)).fetchone()
            if row is None:
                raise StoreError(f"No proposal {proposal_id!r}; `airflow-healer proposals list` shows them.")
            current = self._proposal(row)
            if current["status"] != "pending":
                by = f" by {current['decided_by']} at {current['decided_at']}" if current["decided_by"] else ""
                raise StoreError(f"Proposal {proposal_id} is already {current['status']}{by}; nothing was done.")
            status = "approved" if approve else "rejected"
            conn.execute("UPDATE proposals SET status=?, decided_by=?, decided_at=?, note=? WHERE id=?",
                         (status, user, now, note, proposal_id))
            self._log(conn, "decision", row["incident_id"], {"proposal": proposal_id, "status": status,
                                                             "by": user, "note": note})
            current.update(status=status, decided_by=user, decided_at=now, note=note)
        return current

    # -- one action per failed try ----------------------------------------------------------------

    def act_once(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 actor: str, strategy: str) -> bool:
        """Claim the right to act on one failed try: True for the first caller only, ever.

        Two healers (or a healer task, the watchdog and ``healer_remediate``) that race for the same
        failed try never both clear it: the key is the try, not the incident's lease.
        """
        with self._tx() as conn:
            taken = conn.execute(
                "INSERT OR IGNORE INTO acted (dag_id, run_id, task_id, map_index, try_number, actor, strategy, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dag_id, run_id, task_id, int(map_index), int(try_number), actor, strategy, utcnow()),
            ).rowcount
            if not taken:
                return False
            self._log(conn, "act_once", None, {"dag_id": dag_id, "run_id": run_id, "task_id": task_id,
                                               "map_index": map_index, "try_number": try_number, "actor": actor,
                                               "strategy": strategy})
        return True

    def acted_by(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str | None:
        """Who acted on that try, if anyone did."""
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT actor FROM acted WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=?"
                               " AND try_number=?", (dag_id, run_id, task_id, int(map_index), int(try_number))).fetchone()
        return row["actor"] if row else None

    # -- resource ladders (what healer.tier rendered) ---------------------------------------------

    def record_tier(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, name: str,
                    ladder: list[Any], rung: int) -> None:
        """Remember that ``healer.tier(name, ladder)`` rendered ``ladder[rung]`` for this try."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tiers (dag_id, run_id, task_id, map_index, try_number, name, ladder, rung, rendered_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dag_id, run_id, task_id, map_index, try_number, name)"
                " DO UPDATE SET ladder=excluded.ladder, rung=excluded.rung, rendered_at=excluded.rendered_at",
                (dag_id, run_id, task_id, map_index, try_number, name, json.dumps(ladder, default=str), rung,
                 utcnow()),
            )

    def tiers(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """The ladders the task instance's latest rendered try used: name, ladder, rung, try_number."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT * FROM tiers WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=? AND try_number="
                "(SELECT MAX(try_number) FROM tiers WHERE dag_id=? AND run_id=? AND task_id=? AND map_index=?)"
                " ORDER BY name", (dag_id, run_id, task_id, map_index, dag_id, run_id, task_id, map_index),
            ).fetchall()
        return [{"name": r["name"], "ladder": json.loads(r["ladder"]), "rung": r["rung"],
                 "try_number": r["try_number"]} for r in rows]

    # -- knowledge base entries (plain records; the classifier owns their meaning) -------------

    def put_knowledge(self, records: list[dict[str, Any]], source: str = "") -> None:
        """Insert or replace knowledge records (each with an ``id``) in one transaction."""
        now = utcnow()
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO knowledge (id, record, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET record=excluded.record, updated_at=excluded.updated_at",
                [(r["id"], json.dumps(r, default=str, sort_keys=True), now) for r in records],
            )
            self._log(conn, "knowledge", None, {"count": len(records), "source": source,
                                                "ids": [r["id"] for r in records[:20]]})

    def record_knowledge_outcome(self, record: dict[str, Any], success: bool) -> dict[str, Any]:
        """Count one outcome on the knowledge record ``record['id']``, creating it from ``record``.

        Read, count and write happen in one write transaction, so two healers learning from the
        same error template at once both count.
        """
        with self._tx() as conn:
            row = conn.execute("SELECT record FROM knowledge WHERE id=?", (record["id"],)).fetchone()
            stored = json.loads(row["record"]) if row else {**record, "success_count": 0, "failure_count": 0}
            key = "success_count" if success else "failure_count"
            stored[key] = int(stored.get(key) or 0) + 1
            conn.execute(
                "INSERT INTO knowledge (id, record, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET record=excluded.record, updated_at=excluded.updated_at",
                (record["id"], json.dumps(stored, default=str, sort_keys=True), utcnow()),
            )
            self._log(conn, "knowledge", None, {"count": 1, "source": stored.get("source", ""),
                                                "ids": [record["id"]], "outcome": key})
        return stored

    def list_knowledge(self) -> list[dict[str, Any]]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT record FROM knowledge ORDER BY id").fetchall()
        return [json.loads(r["record"]) for r in rows]

    # -- bytes (models, indexes) -------------------------------------------------------------

    def put_blob(self, name: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO blobs (name, data, meta, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET data=excluded.data, meta=excluded.meta, updated_at=excluded.updated_at",
                (name, sqlite3.Binary(data), json.dumps(meta or {}, default=str), utcnow()),
            )
            self._log(conn, "blob", None, {"name": name, "bytes": len(data), "meta": meta or {}})

    def get_blob(self, name: str) -> bytes | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT data FROM blobs WHERE name=?", (name,)).fetchone()
        return bytes(row["data"]) if row else None

    def list_blobs(self, prefix: str = "") -> list[dict[str, Any]]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT name, length(data) AS size, meta, updated_at FROM blobs WHERE name LIKE ? ORDER BY name",
                (prefix.replace("%", r"\%") + "%",),
            ).fetchall()
        return [{**dict(r), "meta": json.loads(r["meta"])} for r in rows]
