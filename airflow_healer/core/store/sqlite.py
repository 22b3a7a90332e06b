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
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_healer import __version__
from airflow_healer.core.store import rows as R
from airflow_healer.core.store.base import (
    ACTIVE_STATUSES,
    MAX_PAGE,
    SCHEMA_VERSION,
    decode_cursor,
    encode_cursor,
    utc_iso,
    utcnow,
)
from airflow_healer.core.store.copy import Tables
from airflow_healer.core.store.schema import tables
from airflow_healer.core.types import Action, Classification, Failure, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import StoreError, StoreSchemaError, StoreUnavailable

log = logging.getLogger(__name__)

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


_SCHEMA = [*tables(serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", binary="BLOB"), """
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""", """
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"""]

_ACTIVE_IN = f"status IN ({', '.join(repr(s.value) for s in ACTIVE_STATUSES)})"






#: Run after the columns are added, so that an index may name a column a later version added.
#: incidents_search serves the newest-first order, the keyset and time windows, and lets a search read
#: the searched columns from the index instead of every (wide) row. The others: incident_page's
#: filters (status, DAG, error type), the groupings of analytics (each scanned in its own order), an
#: incident's actions and ledger, the pending proposals.
_INDEXES = """
DROP INDEX IF EXISTS incidents_created;
CREATE INDEX IF NOT EXISTS pipeline_jobs_updated ON pipeline_jobs (updated_at, job_id);
CREATE INDEX IF NOT EXISTS incidents_search ON incidents (created_at, id, dag_id, task_id, message);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, created_at, id, updated_at);
CREATE INDEX IF NOT EXISTS incidents_dag ON incidents (dag_id, created_at, id, status);
CREATE INDEX IF NOT EXISTS incidents_dag_task ON incidents (dag_id, task_id, created_at);
CREATE INDEX IF NOT EXISTS incidents_error_type ON incidents (error_type, created_at, id);
CREATE INDEX IF NOT EXISTS incidents_fingerprint ON incidents (fingerprint);
CREATE INDEX IF NOT EXISTS actions_incident ON actions (incident_id);
CREATE INDEX IF NOT EXISTS actions_strategy ON actions (strategy, outcome, started_at);
CREATE INDEX IF NOT EXISTS ledger_incident ON ledger (incident_id);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals (status, expires_at);
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

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables, or upgrade a store an older version wrote, in place (one file, one
        machine: the first process to open it does it in a few milliseconds, under the write lock)."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"The healer store {self.path} has schema version {version}, newer than this airflow_healer "
                f"({__version__}, schema {SCHEMA_VERSION}) knows: upgrade airflow_healer on this machine.")
        # Switching to WAL needs the file to itself: another process creating the store at this
        # moment holds it, and SQLite does not wait for that here. Wait as a write would.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have just done it
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            for statement in _SCHEMA:
                conn.execute(statement)
            for added_in, table, column, definition in _ADDED:
                # A store from before this column: CREATE TABLE IF NOT EXISTS left the old table as it was.
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if version < added_in and column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            for statement in _INDEXES.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO schema_migrations (version, applied_at, package_version)"
                         " VALUES (?, ?, ?)", (SCHEMA_VERSION, utcnow(), __version__))
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
            if version:
                log.info("Healer store %s: schema upgraded from version %s to %s", self.path, version, SCHEMA_VERSION)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        """The schema version of the file: 0 when it does not exist or holds no healer tables yet."""
        if not self.path.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=self.timeout) as conn:
                return conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"Cannot read the healer store {self.path}: {exc}") from exc

    def migrate(self) -> list[int]:
        """Create or upgrade the schema to :data:`SCHEMA_VERSION`; returns the version applied, if any."""
        before = self.schema_version()
        with self._lock:
            self._connection()
        return [SCHEMA_VERSION] if before != SCHEMA_VERSION else []

    def migrations(self) -> list[dict[str, Any]]:
        """The versions applied to this store that it recorded (from version 8 on), oldest first."""
        with self._tx(write=False) as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM schema_migrations ORDER BY version")]

    @contextmanager
    def reading(self) -> Iterator[Tables]:
        """The tables in one read snapshot (``db copy``'s source)."""
        with self._snapshot() as conn:
            yield Tables(lambda sql, params: [dict(r) for r in conn.execute(sql, params)],
                         lambda sql, rows: conn.executemany(sql, rows))

    @contextmanager
    def loading(self) -> Iterator[Tables]:
        """The tables in one write transaction (``db copy``'s destination): all rows land, or none."""
        with self._tx() as conn:
            yield Tables(lambda sql, params: [dict(r) for r in conn.execute(sql, params)],
                         lambda sql, rows: conn.executemany(sql, rows))

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

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: the several queries of one page see the same store."""
        with self._tx(write=False) as conn:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")

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
                self._log(conn, "failure", incident_id, R.failure_event(failure))
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

    @staticmethod
    def _incident(conn: sqlite3.Connection, row: sqlite3.Row) -> Incident:
        return R.incident(
            row, conn.execute("SELECT * FROM failures WHERE incident_id=? ORDER BY try_number", (row["id"],)),
            conn.execute("SELECT * FROM actions WHERE incident_id=? ORDER BY id", (row["id"],)))

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
        return R.ledger_entries(rows)

    # -- what the Healer page shows: aggregates and one page of rows, all in SQL --------------------

    @staticmethod
    def _summaries(conn: sqlite3.Connection, clauses: Sequence[str], params: Sequence[Any],
                   limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` incidents that match, as summaries with their action count and last action."""
        rows = [dict(r) for r in conn.execute(
            f"SELECT {R.SUMMARY} FROM incidents {R.where(clauses)} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit))]
        if rows:
            # One more query for the page's actions, rather than a subquery SQLite might run for every
            # matching row before it sorts.
            acted = {r["incident_id"]: (r["n"], r["last"]) for r in conn.execute(
                "SELECT s.incident_id, s.n, a.strategy || ':' || a.outcome AS last FROM actions a JOIN"
                " (SELECT incident_id, COUNT(*) AS n, MAX(id) AS last_id FROM actions"
                f" WHERE incident_id IN ({', '.join('?' * len(rows))}) GROUP BY incident_id) s ON a.id = s.last_id",
                [r["id"] for r in rows])}
            for r in rows:
                r["actions"], r["last_action"] = acted.get(r["id"], (0, None))
        return rows

    # -- jobs outside Airflow (Dataflow, Cloud Workflows, BigQuery), as polled -------------------------

    def upsert_pipeline_job(self, job: dict[str, Any]) -> None:
        """Keep one polled job: a job seen again is updated, never duplicated (``job_id`` is the key)."""
        row = R.pipeline_job(job)
        with self._tx() as conn:
            conn.execute(
                f"INSERT INTO pipeline_jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
                " ON CONFLICT(job_id) DO UPDATE SET " + ", ".join(f"{k}=excluded.{k}" for k in row if k != "job_id"),
                tuple(row.values()))

    def get_pipeline_job(self, job_id: str) -> dict[str, Any] | None:
        with self._snapshot() as conn:
            row = conn.execute("SELECT * FROM pipeline_jobs WHERE job_id = ?", (str(job_id),)).fetchone()
        return dict(row) if row else None

    def list_pipeline_jobs(self, *, job_type: str | None = None, status: str | None = None, limit: int = 50,
                           offset: int = 0) -> list[dict[str, Any]]:
        """Polled jobs, most recently updated first."""
        clauses, params = [], []
        if job_type:
            clauses, params = [*clauses, "job_type = ?"], [*params, job_type]
        if status:
            clauses, params = [*clauses, "status = ?"], [*params, status]
        with self._snapshot() as conn:
            return [dict(r) for r in conn.execute(
                f"SELECT * FROM pipeline_jobs {R.where(clauses)} ORDER BY updated_at DESC, job_id LIMIT ? OFFSET ?",
                (*params, max(1, min(int(limit), 500)), max(int(offset), 0)))]

    def strategy_record(self, strategy: str, *, days: int = 90) -> dict[str, Any]:
        """How ``strategy``'s actions of the last ``days`` days came out: ``success``, ``failed`` and
        ``success_rate`` (None before any came out). Two range counts on the (strategy, outcome,
        started_at) index, whatever the store's size."""
        since = utc_iso(datetime.now(timezone.utc) - timedelta(days=days))
        count = "SELECT COUNT(*) FROM actions WHERE strategy = ? AND outcome = ? AND started_at >= ?"
        with self._snapshot() as conn:
            success = conn.execute(count, (strategy, Outcome.SUCCESS.value, since)).fetchone()[0]
            failed = conn.execute(count, (strategy, Outcome.FAILED.value, since)).fetchone()[0]
        return R.strategy_record(strategy, days, success, failed)

    def similar_incidents(self, incident_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """Other incidents with the same error template (fingerprint), newest first, as summaries."""
        with self._snapshot() as conn:
            row = conn.execute("SELECT fingerprint FROM incidents WHERE id=?", (incident_id,)).fetchone()
            if row is None or not row["fingerprint"]:
                return []
            return self._summaries(conn, ["fingerprint = ?", "id != ?"], [row["fingerprint"], incident_id],
                                   max(1, min(int(limit), 100)))

    def incident_page(self, *, dag_id: str | None = None, status: str | None = None, error_type: str | None = None,
                      search: str | None = None, since: datetime | str | None = None, limit: int = 50,
                      before: str | None = None) -> dict[str, Any]:
        """Incident summaries, newest first, a page at a time (keyset on created_at and id).

        :param search: a case-insensitive substring (ASCII case) of the DAG id, task id or message.
        :param before: the ``next`` of the previous page.
        :returns: ``{"incidents": [summary, ...], "next": cursor or None, "total": matches over all pages}``.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("dag_id", dag_id), ("status", status), ("error_type", error_type)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(utc_iso(since))
        if search:
            clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in ("dag_id", "task_id", "message")) + ")")
            params += [f"%{R.like_escaped(search)}%"] * 3
        page_clauses, page_params = clauses, params
        if before is not None:
            page_clauses, page_params = [*clauses, "(created_at, id) < (?, ?)"], [*params, *decode_cursor(before)]
        limit = max(1, min(int(limit), MAX_PAGE))
        with self._snapshot() as conn:
            rows = self._summaries(conn, page_clauses, page_params, limit + 1)
            if before is None and len(rows) <= limit:  # every match is on this page: no second scan
                total = len(rows)
            else:
                total = conn.execute(f"SELECT COUNT(*) FROM incidents {R.where(clauses)}", params).fetchone()[0]
        more = len(rows) > limit
        del rows[limit:]
        return {"incidents": rows, "next": encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
                "total": total}

    def overview(self, *, now: datetime | str | None = None, window_hours: float = 24) -> dict[str, Any]:
        """What the Healer page opens on.

        :returns: ``now``, ``since`` (the window's start), ``by_status`` (all time, every status),
            ``total``, ``in_window``, ``active`` and ``active_incidents`` (the 20 newest open, healing or
            escalated, as summaries), ``dags`` (the 50 DAGs with most incidents in the window: ``dag_id,
            failures, recovered, not_recovered, open``, where open counts the still active ones),
            ``pending_proposals``, ``events`` (the last 30 ledger entries: ``seq, at, kind, incident_id,
            text``) and ``last_event_at``.
        """
        until = utc_iso(now or datetime.now(timezone.utc))
        since = utc_iso(datetime.fromisoformat(until) - timedelta(hours=window_hours))
        with self._snapshot() as conn:
            by_status = {s.value: 0 for s in IncidentStatus}
            by_status.update(conn.execute("SELECT status, COUNT(*) FROM incidents GROUP BY status").fetchall())
            in_window = conn.execute("SELECT COUNT(*) FROM incidents WHERE created_at >= ? AND created_at <= ?",
                                     (since, until)).fetchone()[0]
            active = self._summaries(conn, [_ACTIVE_IN], [], 20)
            dags = [dict(r) for r in conn.execute(
                "SELECT dag_id, COUNT(*) AS failures, SUM(status = ?) AS recovered, SUM(status = ?) AS not_recovered,"
                f" SUM({_ACTIVE_IN}) AS open FROM incidents WHERE created_at >= ? AND created_at <= ?"
                " GROUP BY dag_id ORDER BY failures DESC, dag_id LIMIT 50",
                (IncidentStatus.RECOVERED.value, IncidentStatus.NOT_RECOVERED.value, since, until))]
            pending = conn.execute("SELECT COUNT(*) FROM proposals WHERE status = 'pending' AND expires_at >= ?",
                                   (until,)).fetchone()[0]
            events = conn.execute("SELECT seq, at, kind, incident_id, payload FROM ledger ORDER BY seq DESC LIMIT 30"
                                  ).fetchall()
        feed = R.feed(events)
        return {"now": until, "since": since, "by_status": by_status, "total": sum(by_status.values()),
                "in_window": in_window, "active": sum(by_status.get(s.value, 0) for s in ACTIVE_STATUSES),
                "active_incidents": active, "dags": dags, "pending_proposals": pending, "events": feed,
                "last_event_at": feed[0]["at"] if feed else None}

    def analytics(self, *, days: int = 30, now: datetime | str | None = None) -> dict[str, Any]:
        """Trends over the last ``days`` UTC days (today included), by when incidents were created.

        :returns: ``days``, ``since`` and ``until`` (dates, until exclusive), ``total``, ``daily``
            (``date, count``, every day), ``error_types`` (``error_type, count``; None: not classified),
            ``strategies`` (actions started in the window: ``strategy, success, failed, total,
            success_rate`` = success / (success + failed), None without either), ``recovery`` (recovered
            incidents: ``count, mean_seconds`` from created to last updated, and ``median_seconds`` of the
            newest ``median_of`` of them, at most :data:`rows.MEDIAN_SAMPLE`),
            ``top_dags`` (``dag_id, count``), ``top_tasks`` (``dag_id, task_id, count``), ten each, and
            ``forecast`` (``date, count``: the least-squares line over ``daily``, the next 7 days, never < 0).
        """
        days = max(1, min(int(days), 3660))
        today = datetime.fromisoformat(utc_iso(now or datetime.now(timezone.utc))).date()
        since, until = (today - timedelta(days=days - 1)).isoformat(), (today + timedelta(days=1)).isoformat()
        window = "created_at >= :since AND created_at < :until"
        # For a grouping, scan the index in the group's order (it holds created_at); with the window
        # on the created_at index, SQLite would look up and sort every row in it instead (10x slower).
        grouped = "+created_at >= :since AND +created_at < :until"
        bounds = {"since": since, "until": until}
        with self._snapshot() as conn:
            # A range count a day on the created_at index: no sort of the window's rows, and no gaps.
            daily = [dict(r) for r in conn.execute(
                "WITH RECURSIVE day(date) AS (SELECT :since UNION ALL SELECT date(date, '+1 day') FROM day"
                " WHERE date(date, '+1 day') < :until)"
                " SELECT date, (SELECT COUNT(*) FROM incidents WHERE created_at >= day.date"
                " AND created_at < date(day.date, '+1 day')) AS count FROM day ORDER BY date", bounds)]
            error_types = [dict(r) for r in conn.execute(
                f"SELECT error_type, COUNT(*) AS count FROM incidents WHERE {grouped}"
                " GROUP BY error_type ORDER BY count DESC, error_type", bounds)]
            # Grouped in the index's own order (strategy, outcome): no expression a row, a few rows out.
            outcomes = conn.execute(
                "SELECT strategy, outcome, COUNT(*) FROM actions WHERE started_at >= :since AND started_at < :until"
                " GROUP BY strategy, outcome", bounds).fetchall()
            recovered = ("SELECT (julianday(updated_at) - julianday(created_at)) * 86400.0 AS seconds FROM incidents"
                         f" WHERE status = 'recovered' AND {window}")
            count, mean = conn.execute(f"SELECT COUNT(*), AVG(seconds) FROM ({recovered})", bounds).fetchone()
            sample = min(count, R.MEDIAN_SAMPLE)
            middle = [r[0] for r in conn.execute(
                f"SELECT seconds FROM ({recovered} ORDER BY created_at DESC LIMIT :sample)"
                " ORDER BY seconds LIMIT :n OFFSET :skip",
                {**bounds, "sample": sample, "n": 2 - sample % 2, "skip": (sample - 1) // 2})] if sample else []
            top_dags = [dict(r) for r in conn.execute(
                f"SELECT dag_id, COUNT(*) AS count FROM incidents WHERE {grouped}"
                " GROUP BY dag_id ORDER BY count DESC, dag_id LIMIT 10", bounds)]
            top_tasks = [dict(r) for r in conn.execute(
                f"SELECT dag_id, task_id, COUNT(*) AS count FROM incidents WHERE {grouped}"
                " GROUP BY dag_id, task_id ORDER BY count DESC, dag_id, task_id LIMIT 10", bounds)]
        return R.analytics(days=days, today=today, daily=daily, error_types=error_types, outcomes=outcomes,
                           recovered=count, mean_seconds=mean,
                           median_seconds=sum(middle) / len(middle) if middle else None, median_of=sample,
                           top_dags=top_dags, top_tasks=top_tasks)

    # -- proposals: risky fixes wait for a person ----------------------------------------------

    def add_proposal(self, incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                     content: dict[str, Any] | None = None, waiter: str = "") -> dict[str, Any]:
        """A pending proposal for ``incident`` that expires after ``ttl_seconds``; returns it.

        :param content: what exactly is proposed (see ``core.remediate.proposals.propose``).
        :param waiter: the healer task that waits for the decision (its Required Actions entry).
        """
        row = R.new_proposal(incident, strategy, change, ttl_seconds, content=content, waiter=waiter)
        with self._tx() as conn:
            conn.execute(f"INSERT INTO proposals ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
            self._log(conn, "proposal", incident.id, R.proposal_event(row, content))
        return {**row, "content": content or {}}

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM proposals WHERE id=?", (proposal_id,)).fetchone()
        return R.proposal(row) if row else None

    def list_proposals(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Proposals, newest first; ``status`` pending/approved/rejected/expired (expiry is read at the call)."""
        now = utcnow()
        where, params = "", []
        if status == "pending":
            where, params = "WHERE status = 'pending' AND expires_at >= ?", [now]
        elif status == "expired":
            where, params = "WHERE status = 'pending' AND expires_at < ?", [now]
        elif status:
            where, params = "WHERE status = ?", [status]
        with self._tx(write=False) as conn:
            rows = conn.execute(f"SELECT * FROM proposals {where} ORDER BY created_at DESC LIMIT ? OFFSET ?",
                                (*params, int(limit), max(int(offset), 0))).fetchall()
        return [R.proposal(r) for r in rows]

    def decide_proposal(self, proposal_id: str, approve: bool, user: str, note: str = "") -> dict[str, Any]:
        """Approve or reject a pending proposal, once; a clear error when it is decided or expired."""
        now = utcnow()
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM proposals WHERE id=?", (proposal_id,)).fetchone()
            current = R.check_decidable(proposal_id, row)
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
                "SELECT name, length(data) AS size, meta, updated_at FROM blobs WHERE name LIKE ? ESCAPE '\\'"
                " ORDER BY name", (R.like_escaped(prefix) + "%",),
            ).fetchall()
        return [{**dict(r), "meta": json.loads(r["meta"])} for r in rows]
