"""The shared store: PostgreSQL, for an Airflow whose tasks run on many machines (Celery, Kubernetes, Composer).

``[healer] store_url = postgresql+psycopg://user:password@host:5432/healer``

The semantics are SQLite's, enforced by the database rather than by one file's lock:

- a failed try is recorded once, however many callbacks and watchdogs report it (unique keys and
  ``ON CONFLICT``);
- leases (``claim``) and ``act_once`` hold across machines: a conditional ``UPDATE`` and an
  ``INSERT ... ON CONFLICT DO NOTHING`` that PostgreSQL serialises on the row;
- learning counts are read, counted and written in one transaction with the row locked;
- the ledger is append-only: triggers refuse UPDATE, DELETE and TRUNCATE on it.

Connections come from a pool (SQLAlchemy's, over psycopg 3) that a task process opens once, on its
first failure; a server that is down raises :class:`StoreUnavailable` within ``timeout`` seconds so
that a callback spools instead of hanging. The schema is created in an empty database; an older one
is upgraded by ``airflow-healer db upgrade`` (never by a task, since ALTER TABLE locks tables every
worker writes to), and until then every call says so.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
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

#: The first schema version a PostgreSQL store was created at.
FIRST_VERSION = 8
#: Held while the schema is created or upgraded, so that two processes never both run DDL.
_MIGRATION_LOCK = 0x6865616C  # "heal"

_DDL = [*tables(serial="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION", binary="BYTEA"), *"""
CREATE OR REPLACE FUNCTION healer_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
DROP TRIGGER IF EXISTS ledger_no_change ON ledger;
CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION healer_ledger_append_only();
DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger;
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION healer_ledger_append_only();
CREATE INDEX IF NOT EXISTS pipeline_jobs_updated ON pipeline_jobs (updated_at, job_id);
CREATE INDEX IF NOT EXISTS incidents_created ON incidents (created_at, id);
CREATE INDEX IF NOT EXISTS incidents_window ON incidents (created_at) INCLUDE (error_type, status, updated_at, dag_id,
    task_id);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, created_at, id) INCLUDE (updated_at);
CREATE INDEX IF NOT EXISTS incidents_dag ON incidents (dag_id, created_at, id);
CREATE INDEX IF NOT EXISTS incidents_dag_task ON incidents (dag_id, task_id, created_at);
CREATE INDEX IF NOT EXISTS incidents_error_type ON incidents (error_type, created_at, id);
CREATE INDEX IF NOT EXISTS incidents_fingerprint ON incidents (fingerprint);
CREATE INDEX IF NOT EXISTS actions_incident ON actions (incident_id, id);
CREATE INDEX IF NOT EXISTS actions_strategy ON actions (strategy, outcome, started_at);
CREATE INDEX IF NOT EXISTS ledger_incident ON ledger (incident_id, seq);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals (status, expires_at);
CREATE INDEX IF NOT EXISTS proposals_created ON proposals (created_at)
""".split(";\n")]

#: Each later version's statements, applied in order by ``migrate``: (version, statements).
#: A version only ever adds (columns with defaults, tables, indexes), so nothing written is lost.
MIGRATIONS: list[tuple[int, list[str]]] = []

_ACTIVE_IN = f"status IN ({', '.join(repr(s.value) for s in ACTIVE_STATUSES)})"


@functools.lru_cache(maxsize=512)
def _sql(statement: str) -> Any:
    """``statement`` as one SQLAlchemy text object per distinct string, so that its compiled form is cached."""
    from sqlalchemy import text

    return text(statement)


def _clean(value: Any) -> Any:
    """A parameter PostgreSQL accepts: text holds no NUL, nor a lone surrogate (both fine in SQLite)."""
    if isinstance(value, str) and ("\x00" in value or not value.isascii()):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return value






def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL too broken to parse is shown without what follows the scheme
        return url.split("://", 1)[0] + "://..."


class PostgresStore:
    """Incidents in a PostgreSQL database, shared by every worker and the API server.

    :param url: a SQLAlchemy URL; ``postgresql://`` and ``postgres://`` mean ``postgresql+psycopg://``.
    :param timeout: seconds to connect, and to wait for a row another healer holds, before
        :class:`StoreUnavailable`.
    :param pool_size: connections kept open per process (a task process needs one).
    """

    def __init__(self, url: str, *, timeout: float = 10.0, pool_size: int = 2):
        self.url = _driver_url(url)
        self.timeout = timeout
        self.pool_size = pool_size
        self._engine: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._checked = False

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self.url)!r})"

    # -- connections, transactions, schema ------------------------------------------------------

    def _engine_now(self) -> Any:
        if self._engine is not None and self._pid == os.getpid():
            return self._engine
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                from sqlalchemy import create_engine

                if self._engine is not None:  # a forked child: never use the parent's sockets
                    self._engine.dispose(close=False)
                self._engine = create_engine(
                    self.url, pool_size=self.pool_size, max_overflow=8, pool_pre_ping=True, pool_recycle=1800,
                    pool_timeout=self.timeout,
                    connect_args={"connect_timeout": max(1, round(self.timeout)), "application_name": "airflow_healer",
                                  # A row another healer holds is waited on this long, then StoreUnavailable.
                                  "options": f"-c lock_timeout={int(self.timeout * 1000)}"})
                self._pid, self._checked = os.getpid(), False
        return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None

    def _translate(self, exc: Exception) -> StoreError:
        from sqlalchemy import exc as sa

        original = getattr(exc, "orig", None)
        detail = str(original or exc).strip().splitlines()[0] if str(original or exc).strip() else type(exc).__name__
        where = f"Healer store {redacted(self.url)}"
        if isinstance(exc, sa.TimeoutError) or isinstance(exc, sa.OperationalError) or (
                isinstance(exc, sa.DBAPIError) and exc.connection_invalidated):
            return StoreUnavailable(f"{where} cannot be reached or is busy: {detail}. Check that PostgreSQL is up "
                                    "and [healer] store_url is right; callbacks spool until it answers.")
        return StoreError(f"{where}: {detail}")

    @contextmanager
    def _tx(self, *, check: bool = True, isolation: str | None = None) -> Iterator[_Conn]:
        """One transaction on a pooled connection: committed on success, rolled back on any error.

        :param isolation: e.g. ``REPEATABLE READ``; READ COMMITTED (PostgreSQL's default) otherwise.
        """
        from sqlalchemy import exc as sa

        try:
            engine = self._engine_now()
            if check and not self._checked:
                self._check_schema(engine)
            with engine.connect() as conn:
                if isolation:
                    conn = conn.execution_options(isolation_level=isolation)
                with conn.begin():
                    yield _Conn(conn)
        except StoreError:
            raise
        except sa.SQLAlchemyError as exc:
            raise self._translate(exc) from exc

    def _read(self) -> Any:
        """A snapshot: the several queries of one page see one committed state of the store."""
        return self._tx(isolation="REPEATABLE READ")

    def schema_version(self) -> int:
        """The schema version of the database: 0 when it holds no healer tables yet."""
        with self._tx(check=False) as conn:
            return _version(conn)

    def _check_schema(self, engine: Any) -> None:
        """At a process's first call: create the tables in an empty database, refuse an old or newer one."""
        with engine.begin() as raw:
            version = _version(_Conn(raw))
        if version == 0:
            self.migrate()
        elif version < SCHEMA_VERSION:
            raise StoreSchemaError(
                f"The healer store {redacted(self.url)} has schema version {version}; this airflow_healer "
                f"({__version__}) needs {SCHEMA_VERSION}. Run `airflow-healer db upgrade` once (it keeps every row), "
                "then the healer uses it again.")
        elif version > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"The healer store {redacted(self.url)} has schema version {version}, newer than this airflow_healer "
                f"({__version__}, schema {SCHEMA_VERSION}) knows: upgrade airflow_healer on this machine.")
        self._checked = True

    def migrate(self) -> list[int]:
        """Create or upgrade the schema to :data:`SCHEMA_VERSION`; returns the versions applied (none: current).

        One process at a time (an advisory lock); every step is in one transaction, so an interrupted
        upgrade leaves the previous version whole.
        """
        applied: list[int] = []
        with self._migration_lock(), self._tx(check=False) as conn:
            version = _version(conn)
            if version > SCHEMA_VERSION:
                raise StoreSchemaError(f"The healer store has schema version {version}, newer than this "
                                       f"airflow_healer ({SCHEMA_VERSION}): upgrade airflow_healer to migrate it.")
            if version == 0:
                for statement in _DDL:
                    conn.raw(statement)
                version = FIRST_VERSION
                applied.append(version)
                self._note_version(conn, version)
            for step, statements in MIGRATIONS:
                if step > version:
                    for statement in statements:
                        conn.raw(statement)
                    applied.append(step)
                    self._note_version(conn, step)
        self._checked = True
        if applied:
            log.info("Healer store %s: schema now at version %s (applied %s)", redacted(self.url), applied[-1],
                     applied)
        return applied

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Hold PostgreSQL's advisory lock of the healer's migrations (a session lock, on a connection of
        its own): the schema is then read in a transaction that starts after the previous holder's
        commit, so it sees the tables that one created."""
        from sqlalchemy import exc as sa

        try:
            with self._engine_now().connect() as conn:
                conn.execute(_sql("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(_sql("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                    conn.commit()
        except sa.SQLAlchemyError as exc:
            raise self._translate(exc) from exc

    @staticmethod
    def _note_version(conn: _Conn, version: int) -> None:
        conn.run("INSERT INTO schema_migrations (version, applied_at, package_version) VALUES (:v, :at, :pv)"
                 " ON CONFLICT (version) DO NOTHING", v=version, at=utcnow(), pv=__version__)

    def migrations(self) -> list[dict[str, Any]]:
        """The versions applied to this store, oldest first: version, applied_at, package_version."""
        with self._tx(check=False) as conn:
            if not _version(conn):
                return []
            return conn.all("SELECT * FROM schema_migrations ORDER BY version")

    @contextmanager
    def reading(self) -> Iterator[Tables]:
        """The tables in one snapshot (``db copy``'s source)."""
        with self._read() as conn:
            yield Tables(lambda sql, params: conn.all(sql, **params), conn.many)

    @contextmanager
    def loading(self) -> Iterator[Tables]:
        """The tables in one transaction (``db copy``'s destination): all rows land, or none. The id
        sequences then continue after the highest copied id."""
        with self._tx() as conn:
            yield Tables(lambda sql, params: conn.all(sql, **params), conn.many)
            for table, column in (("actions", "id"), ("ledger", "seq")):
                conn.run(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE(MAX({column}), 1),"
                         f" MAX({column}) IS NOT NULL) FROM {table}")

    @staticmethod
    def _log(conn: _Conn, kind: str, incident_id: str | None, payload: dict[str, Any]) -> None:
        conn.run("INSERT INTO ledger (at, kind, incident_id, payload) VALUES (:at, :kind, :incident_id, :payload)",
                 at=utcnow(), kind=kind, incident_id=incident_id,
                 payload=json.dumps(payload, default=str, sort_keys=True))

    # -- incidents --------------------------------------------------------------------------

    def record_failure(self, failure: Failure) -> str:
        now = utcnow()
        key = {"dag_id": failure.dag_id, "run_id": failure.run_id, "task_id": failure.task_id,
               "map_index": failure.map_index}
        values = R.failure_params(failure)
        with self._tx() as conn:
            # A task's first failure (the usual case) is one INSERT. Two machines recording it at once:
            # one insert wins; the other waits for its commit, inserts nothing and goes on below.
            inserted = conn.one(
                "INSERT INTO incidents (id, dag_id, run_id, task_id, map_index, status, created_at, updated_at,"
                " last_try_number, operator, exception_type, message, traceback, fingerprint, hostname,"
                " log_excerpt, log_lines, log_note, conn_ids) VALUES (:id, :dag_id, :run_id, :task_id,"
                " :map_index, :status, :now, :now, :try_number, :operator, :exception_type, :message, :traceback,"
                " :fingerprint, :hostname, :log_excerpt, :log_lines, :log_note, :conn_ids)"
                " ON CONFLICT (dag_id, run_id, task_id, map_index) DO NOTHING RETURNING id",
                id=uuid.uuid4().hex, status=IncidentStatus.OPEN.value, now=now, **key, **values)
            if inserted:
                incident_id = inserted["id"]
            else:
                row = conn.one("SELECT id, last_try_number FROM incidents WHERE dag_id=:dag_id AND run_id=:run_id"
                               " AND task_id=:task_id AND map_index=:map_index FOR UPDATE", **key)
                incident_id = row["id"]
                if failure.try_number >= row["last_try_number"] and failure.message:
                    conn.run(
                        "UPDATE incidents SET updated_at=:now, last_try_number=:try_number,"
                        " operator=COALESCE(:operator, operator), exception_type=:exception_type, message=:message,"
                        " traceback=:traceback, fingerprint=:fingerprint, hostname=:hostname,"
                        " log_excerpt=:log_excerpt, log_lines=:log_lines, log_note=:log_note,"
                        " conn_ids=CASE WHEN :conn_ids = '[]' THEN conn_ids ELSE :conn_ids END WHERE id=:id",
                        now=now, id=incident_id, **values)
            # The try's row and, only if it is new, its ledger entry: one statement.
            conn.run(
                "WITH added AS (INSERT INTO failures (incident_id, try_number, operator, exception_type, message,"
                " traceback, fingerprint, hostname, started_at, failed_at, captured_at, source, log_excerpt,"
                " log_lines, log_note, conn_ids) VALUES (:incident_id, :try_number, :operator, :exception_type,"
                " :message, :traceback, :fingerprint, :hostname, :started_at, :failed_at, :captured_at, :source,"
                " :log_excerpt, :log_lines, :log_note, :conn_ids) ON CONFLICT (incident_id, try_number) DO NOTHING"
                " RETURNING incident_id)"
                " INSERT INTO ledger (at, kind, incident_id, payload) SELECT :now, 'failure', incident_id, :event"
                " FROM added", incident_id=incident_id, captured_at=failure.captured_at or now, now=now,
                event=json.dumps(R.failure_event(failure), default=str, sort_keys=True), **values)
        return incident_id

    def add_log(self, incident_id: str, try_number: int, *, excerpt: str, lines: list[dict[str, Any]],
                note: str = "", message: str | None = None, fingerprint: str | None = None) -> None:
        params = {"excerpt": excerpt, "lines": json.dumps(lines), "note": note, "message": message,
                  "fingerprint": fingerprint, "id": incident_id, "try": try_number}
        with self._tx() as conn:
            conn.run("UPDATE failures SET log_excerpt=:excerpt, log_lines=:lines, log_note=:note,"
                     " message=COALESCE(:message, message), fingerprint=COALESCE(:fingerprint, fingerprint)"
                     " WHERE incident_id=:id AND try_number=:try", **params)
            conn.run("UPDATE incidents SET log_excerpt=:excerpt, log_lines=:lines, log_note=:note,"
                     " message=COALESCE(:message, message), fingerprint=COALESCE(:fingerprint, fingerprint),"
                     " updated_at=:now WHERE id=:id AND last_try_number=:try", now=utcnow(), **params)
            self._log(conn, "log", incident_id, {"try_number": try_number, "lines": len(lines), "note": note})

    @staticmethod
    def _incident(conn: _Conn, row: Mapping[str, Any]) -> Incident:
        return R.incident(row, conn.all("SELECT * FROM failures WHERE incident_id=:id ORDER BY try_number", id=row["id"]),
                          conn.all("SELECT * FROM actions WHERE incident_id=:id ORDER BY id", id=row["id"]))

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._tx() as conn:
            row = conn.one("SELECT * FROM incidents WHERE id=:id", id=incident_id)
            return self._incident(conn, row) if row else None

    def find_incident(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Incident | None:
        with self._tx() as conn:
            row = conn.one("SELECT * FROM incidents WHERE dag_id=:d AND run_id=:r AND task_id=:t AND map_index=:m",
                           d=dag_id, r=run_id, t=task_id, m=map_index)
            return self._incident(conn, row) if row else None

    def list_incidents(self, *, dag_id: str | None = None, run_id: str | None = None, status: str | None = None,
                       limit: int = 100) -> list[Incident]:
        filters = {k: v for k, v in (("dag_id", dag_id), ("run_id", run_id), ("status", status)) if v is not None}
        with self._tx() as conn:
            rows = conn.all(f"SELECT * FROM incidents {R.where([f'{k}=:{k}' for k in filters])}"
                            " ORDER BY created_at DESC, id LIMIT :limit", limit=int(limit), **filters)
            return [self._incident(conn, row) for row in rows]

    def set_classification(self, incident_id: str, classification: Classification) -> None:
        with self._tx() as conn:
            conn.run("UPDATE incidents SET error_type=:t, confidence=:c, classifier=:k, evidence=:e, updated_at=:now"
                     " WHERE id=:id", t=classification.error_type.value, c=classification.confidence,
                     k=classification.classifier, e=json.dumps(classification.evidence), now=utcnow(), id=incident_id)
            self._log(conn, "classified", incident_id, classification.as_dict())

    def set_status(self, incident_id: str, status: IncidentStatus, reason: str = "") -> None:
        with self._tx() as conn:
            conn.run("UPDATE incidents SET status=:s, reason=:r, updated_at=:now WHERE id=:id", s=status.value,
                     r=reason, now=utcnow(), id=incident_id)
            self._log(conn, "status", incident_id, {"status": status.value, "reason": reason})

    def add_action(self, incident_id: str, action: Action) -> int:
        action = replace(action, incident_id=incident_id, started_at=action.started_at or utcnow())
        with self._tx() as conn:
            action_id = conn.one(
                "INSERT INTO actions (incident_id, strategy, attempt, outcome, detail, risky, started_at, finished_at)"
                " VALUES (:incident_id, :strategy, :attempt, :outcome, :detail, :risky, :started_at, :finished_at)"
                " RETURNING id", incident_id=incident_id, strategy=action.strategy, attempt=action.attempt,
                outcome=action.outcome.value, detail=action.detail, risky=int(action.risky),
                started_at=action.started_at, finished_at=action.finished_at)["id"]
            self._log(conn, "action", incident_id, {**asdict(action), "id": action_id, "outcome": action.outcome.value})
        return int(action_id)

    def finish_action(self, action_id: int, outcome: Outcome, detail: str = "", *, only_pending: bool = False) -> bool:
        with self._tx() as conn:
            row = conn.one("SELECT incident_id FROM actions WHERE id=:id", id=int(action_id))
            if row is None:
                raise StoreError(f"No action {action_id} in the healer store {redacted(self.url)}.")
            done = conn.run(
                "UPDATE actions SET outcome=:outcome, detail=CASE WHEN :detail='' THEN detail WHEN detail=''"
                " THEN :detail ELSE detail || '; ' || :detail END, finished_at=:now WHERE id=:id"
                + (" AND outcome='pending'" if only_pending else ""),
                outcome=outcome.value, detail=detail, now=utcnow(), id=int(action_id)).rowcount
            if done:
                self._log(conn, "outcome", row["incident_id"], {"action_id": action_id, "outcome": outcome.value,
                                                                 "detail": detail})
        return bool(done)

    def claim(self, incident_id: str, owner: str, lease_seconds: float = 600.0) -> bool:
        now = datetime.now(timezone.utc)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="milliseconds")
        with self._tx() as conn:
            # A second healer's UPDATE waits on the row, then re-reads it: it sees the first one's lease.
            taken = conn.run("UPDATE incidents SET claimed_by=:owner, claimed_until=:until WHERE id=:id"
                             " AND (claimed_by IS NULL OR claimed_by=:owner OR claimed_until < :now)",
                             owner=owner, until=until, id=incident_id,
                             now=now.isoformat(timespec="milliseconds")).rowcount
            if taken:
                self._log(conn, "claimed", incident_id, {"owner": owner, "until": until})
        return bool(taken)

    def release(self, incident_id: str, owner: str) -> None:
        with self._tx() as conn:
            conn.run("UPDATE incidents SET claimed_by=NULL, claimed_until=NULL WHERE id=:id AND claimed_by=:owner",
                     id=incident_id, owner=owner)

    def ledger(self, incident_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self._tx() as conn:
            if incident_id is None:
                rows = conn.all("SELECT * FROM ledger ORDER BY seq DESC LIMIT :n", n=int(limit))
            else:
                rows = conn.all("SELECT * FROM ledger WHERE incident_id=:id ORDER BY seq DESC LIMIT :n",
                                id=incident_id, n=int(limit))
        return R.ledger_entries(rows)

    # -- what the Healer page shows -----------------------------------------------------------

    @staticmethod
    def _summaries(conn: _Conn, clauses: Sequence[str], params: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        rows = conn.all(f"SELECT {R.SUMMARY} FROM incidents {R.where(clauses)} ORDER BY created_at DESC, id DESC"
                        " LIMIT :page_limit", page_limit=limit, **params)
        if rows:
            acted = {r["incident_id"]: (r["n"], r["last"]) for r in conn.all(
                "SELECT s.incident_id, s.n, a.strategy || ':' || a.outcome AS last FROM actions a JOIN"
                " (SELECT incident_id, COUNT(*) AS n, MAX(id) AS last_id FROM actions WHERE incident_id = ANY(:ids)"
                " GROUP BY incident_id) s ON a.id = s.last_id", ids=[r["id"] for r in rows])}
            for r in rows:
                r["actions"], r["last_action"] = acted.get(r["id"], (0, None))
        return rows

    def similar_incidents(self, incident_id: str, limit: int = 10) -> list[dict[str, Any]]:
        with self._read() as conn:
            row = conn.one("SELECT fingerprint FROM incidents WHERE id=:id", id=incident_id)
            if row is None or not row["fingerprint"]:
                return []
            return self._summaries(conn, ["fingerprint = :fp", "id != :id"], {"fp": row["fingerprint"],
                                                                             "id": incident_id},
                                   max(1, min(int(limit), 100)))

    def incident_page(self, *, dag_id: str | None = None, status: str | None = None, error_type: str | None = None,
                      search: str | None = None, since: datetime | str | None = None, limit: int = 50,
                      before: str | None = None) -> dict[str, Any]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column, value in (("dag_id", dag_id), ("status", status), ("error_type", error_type)):
            if value is not None:
                clauses.append(f"{column} = :{column}")
                params[column] = str(value)
        if since is not None:
            clauses.append("created_at >= :since")
            params["since"] = utc_iso(since)
        if search:
            # ASCII case-insensitive, as SQLite's LIKE: ILIKE folds other letters too, which only finds more.
            clauses.append("(" + " OR ".join(f"{c} ILIKE :search ESCAPE '\\'" for c in ("dag_id", "task_id", "message"))
                           + ")")
            params["search"] = f"%{R.like_escaped(search)}%"
        page_clauses, page_params = clauses, params
        if before is not None:
            at, last_id = decode_cursor(before)
            page_clauses, page_params = [*clauses, "(created_at, id) < (:before_at, :before_id)"], {
                **params, "before_at": at, "before_id": last_id}
        limit = max(1, min(int(limit), MAX_PAGE))
        with self._read() as conn:
            rows = self._summaries(conn, page_clauses, page_params, limit + 1)
            if before is None and len(rows) <= limit:
                total = len(rows)
            else:
                total = conn.one(f"SELECT COUNT(*) AS n FROM incidents {R.where(clauses)}", **params)["n"]
        more = len(rows) > limit
        del rows[limit:]
        return {"incidents": rows, "next": encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
                "total": total}

    def overview(self, *, now: datetime | str | None = None, window_hours: float = 24) -> dict[str, Any]:
        until = utc_iso(now or datetime.now(timezone.utc))
        since = utc_iso(datetime.fromisoformat(until) - timedelta(hours=window_hours))
        with self._read() as conn:
            by_status = {s.value: 0 for s in IncidentStatus}
            by_status.update({r["status"]: r["n"] for r in conn.all(
                "SELECT status, COUNT(*) AS n FROM incidents GROUP BY status")})
            window = {"since": since, "until": until}
            in_window = conn.one("SELECT COUNT(*) AS n FROM incidents WHERE created_at >= :since"
                                 " AND created_at <= :until", **window)["n"]
            active = self._summaries(conn, [_ACTIVE_IN], {}, 20)
            dags = conn.all(
                "SELECT dag_id, COUNT(*) AS failures, COUNT(*) FILTER (WHERE status = :recovered) AS recovered,"
                " COUNT(*) FILTER (WHERE status = :not_recovered) AS not_recovered,"
                f" COUNT(*) FILTER (WHERE {_ACTIVE_IN}) AS open FROM incidents"
                " WHERE created_at >= :since AND created_at <= :until"
                " GROUP BY dag_id ORDER BY failures DESC, dag_id LIMIT 50",
                recovered=IncidentStatus.RECOVERED.value, not_recovered=IncidentStatus.NOT_RECOVERED.value, **window)
            pending = conn.one("SELECT COUNT(*) AS n FROM proposals WHERE status = 'pending' AND expires_at >= :until",
                               until=until)["n"]
            events = conn.all("SELECT seq, at, kind, incident_id, payload FROM ledger ORDER BY seq DESC LIMIT 30")
        feed = R.feed(events)
        return {"now": until, "since": since, "by_status": by_status, "total": sum(by_status.values()),
                "in_window": in_window, "active": sum(by_status.get(s.value, 0) for s in ACTIVE_STATUSES),
                "active_incidents": active, "dags": dags, "pending_proposals": pending, "events": feed,
                "last_event_at": feed[0]["at"] if feed else None}

    def analytics(self, *, days: int = 30, now: datetime | str | None = None) -> dict[str, Any]:
        """As :meth:`SQLiteStore.analytics`: each figure one query over the window, in the database, in one snapshot."""
        days = max(1, min(int(days), 3660))
        today = datetime.fromisoformat(utc_iso(now or datetime.now(timezone.utc))).date()
        bounds = {"since": (today - timedelta(days=days - 1)).isoformat(),
                  "until": (today + timedelta(days=1)).isoformat()}
        window = "created_at >= :since AND created_at < :until"
        with self._read() as conn:
            # A range count a day on the created_at index (index-only): cheaper than grouping the window's
            # rows by an expression, whose number of groups the planner cannot guess.
            daily = conn.all(
                "SELECT CAST(CAST(d AS date) AS text) AS date, (SELECT COUNT(*) FROM incidents"
                " WHERE created_at >= CAST(CAST(d AS date) AS text) AND created_at < CAST(CAST(d AS date) + 1 AS text))"
                " AS count FROM generate_series(CAST(:since AS date), CAST(:until AS date) - 1, interval '1 day') d"
                " ORDER BY 1", **bounds)
            outcomes = [(r["strategy"], r["outcome"], r["n"]) for r in conn.all(
                "SELECT strategy, outcome, COUNT(*) AS n FROM actions WHERE started_at >= :since"
                " AND started_at < :until GROUP BY strategy, outcome", **bounds)]
            seconds = ("EXTRACT(EPOCH FROM (CAST(updated_at AS timestamptz) - CAST(created_at AS timestamptz)))"
                       "::double precision")
            # The types and the time to recovery in one scan of the window (the cast only for recovered rows).
            by_type = conn.all(
                "SELECT error_type, COUNT(*) AS count, COUNT(*) FILTER (WHERE status = 'recovered') AS recovered,"
                f" SUM({seconds}) FILTER (WHERE status = 'recovered') AS seconds FROM incidents WHERE {window}"
                " GROUP BY error_type ORDER BY count DESC, error_type NULLS FIRST", **bounds)
            error_types = [{"error_type": r["error_type"], "count": r["count"]} for r in by_type]
            count = sum(r["recovered"] for r in by_type)
            mean = sum(r["seconds"] or 0.0 for r in by_type) / count if count else None
            sample = min(count, R.MEDIAN_SAMPLE)
            recovered = f"FROM incidents WHERE status = 'recovered' AND {window}"
            median = conn.one(
                f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS m FROM (SELECT {seconds} AS s {recovered}"
                " ORDER BY created_at DESC LIMIT :sample) newest", sample=sample, **bounds)["m"] if sample else None
            # The top tasks and the top DAGs from one grouping of the window by task.
            top = conn.all(
                "WITH tasks AS MATERIALIZED (SELECT dag_id, task_id, COUNT(*) AS count FROM incidents"
                f" WHERE {window} GROUP BY dag_id, task_id)"
                " (SELECT 'task' AS top, dag_id, task_id, count FROM tasks ORDER BY count DESC, dag_id, task_id LIMIT 10)"
                " UNION ALL (SELECT 'dag', dag_id, NULL, CAST(SUM(count) AS bigint) FROM tasks GROUP BY dag_id"
                " ORDER BY 4 DESC, dag_id LIMIT 10)", **bounds)
            top_tasks = [{k: r[k] for k in ("dag_id", "task_id", "count")} for r in top if r["top"] == "task"]
            top_dags = [{"dag_id": r["dag_id"], "count": r["count"]} for r in top if r["top"] == "dag"]
        return R.analytics(days=days, today=today, daily=daily, error_types=error_types, outcomes=outcomes,
                           recovered=count, mean_seconds=mean, median_seconds=median,
                           median_of=sample, top_dags=top_dags, top_tasks=top_tasks)

    # -- proposals --------------------------------------------------------------------------

    def add_proposal(self, incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                     content: dict[str, Any] | None = None, waiter: str = "") -> dict[str, Any]:
        row = R.new_proposal(incident, strategy, change, ttl_seconds, content=content, waiter=waiter)
        with self._tx() as conn:
            conn.run(f"INSERT INTO proposals ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", **row)
            self._log(conn, "proposal", incident.id, R.proposal_event(row, content))
        return {**row, "content": content or {}}

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.one("SELECT * FROM proposals WHERE id=:id", id=proposal_id)
        return R.proposal(row) if row else None

    def list_proposals(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        where, params = "", {"now": utcnow()}
        if status == "pending":
            where = "WHERE status = 'pending' AND expires_at >= :now"
        elif status == "expired":
            where = "WHERE status = 'pending' AND expires_at < :now"
        elif status:
            where, params = "WHERE status = :status", {"status": status}
        with self._tx() as conn:
            rows = conn.all(f"SELECT * FROM proposals {where} ORDER BY created_at DESC LIMIT :limit OFFSET :offset",
                            limit=int(limit), offset=max(int(offset), 0), **params)
        return [R.proposal(r) for r in rows]

    def decide_proposal(self, proposal_id: str, approve: bool, user: str, note: str = "") -> dict[str, Any]:
        now = utcnow()
        with self._tx() as conn:
            # Locked: of two people deciding at once, the second sees the first one's decision.
            row = conn.one("SELECT * FROM proposals WHERE id=:id FOR UPDATE", id=proposal_id)
            current = R.check_decidable(proposal_id, row)
            status = "approved" if approve else "rejected"
            conn.run("UPDATE proposals SET status=:s, decided_by=:u, decided_at=:now, note=:note WHERE id=:id",
                     s=status, u=user, now=now, note=note, id=proposal_id)
            self._log(conn, "decision", row["incident_id"], {"proposal": proposal_id, "status": status, "by": user,
                                                             "note": note})
            current.update(status=status, decided_by=user, decided_at=now, note=note)
        return current

    # -- one action per failed try --------------------------------------------------------------

    def act_once(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 actor: str, strategy: str) -> bool:
        key = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": int(map_index),
               "try_number": int(try_number)}
        with self._tx() as conn:
            taken = conn.run("INSERT INTO acted (dag_id, run_id, task_id, map_index, try_number, actor, strategy, at)"
                             " VALUES (:dag_id, :run_id, :task_id, :map_index, :try_number, :actor, :strategy, :at)"
                             " ON CONFLICT DO NOTHING", actor=actor, strategy=strategy, at=utcnow(), **key).rowcount
            if not taken:
                return False
            self._log(conn, "act_once", None, {**key, "actor": actor, "strategy": strategy})
        return True

    def acted_by(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str | None:
        with self._tx() as conn:
            row = conn.one("SELECT actor FROM acted WHERE dag_id=:d AND run_id=:r AND task_id=:t AND map_index=:m"
                           " AND try_number=:n", d=dag_id, r=run_id, t=task_id, m=int(map_index), n=int(try_number))
        return row["actor"] if row else None

    # -- resource ladders ---------------------------------------------------------------------

    def record_tier(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, name: str,
                    ladder: list[Any], rung: int) -> None:
        with self._tx() as conn:
            conn.run("INSERT INTO tiers (dag_id, run_id, task_id, map_index, try_number, name, ladder, rung,"
                     " rendered_at) VALUES (:d, :r, :t, :m, :n, :name, :ladder, :rung, :at)"
                     " ON CONFLICT (dag_id, run_id, task_id, map_index, try_number, name) DO UPDATE SET"
                     " ladder=EXCLUDED.ladder, rung=EXCLUDED.rung, rendered_at=EXCLUDED.rendered_at",
                     d=dag_id, r=run_id, t=task_id, m=map_index, n=try_number, name=name,
                     ladder=json.dumps(ladder, default=str), rung=rung, at=utcnow())

    def tiers(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        key = "dag_id=:d AND run_id=:r AND task_id=:t AND map_index=:m"
        with self._tx() as conn:
            rows = conn.all(f"SELECT * FROM tiers WHERE {key} AND try_number=(SELECT MAX(try_number) FROM tiers"
                            f" WHERE {key}) ORDER BY name", d=dag_id, r=run_id, t=task_id, m=map_index)
        return [{"name": r["name"], "ladder": json.loads(r["ladder"]), "rung": r["rung"],
                 "try_number": r["try_number"]} for r in rows]

    # -- knowledge ---------------------------------------------------------------------------

    _UPSERT_KNOWLEDGE = ("INSERT INTO knowledge (id, record, updated_at) VALUES (:id, :record, :at)"
                         " ON CONFLICT (id) DO UPDATE SET record=EXCLUDED.record, updated_at=EXCLUDED.updated_at")

    def put_knowledge(self, records: list[dict[str, Any]], source: str = "") -> None:
        now = utcnow()
        with self._tx() as conn:
            if records:
                conn.many(self._UPSERT_KNOWLEDGE, [{"id": r["id"], "record": json.dumps(r, default=str, sort_keys=True),
                                                    "at": now} for r in records])
            self._log(conn, "knowledge", None, {"count": len(records), "source": source,
                                                "ids": [r["id"] for r in records[:20]]})

    def record_knowledge_outcome(self, record: dict[str, Any], success: bool) -> dict[str, Any]:
        with self._tx() as conn:
            fresh = {**record, "success_count": 0, "failure_count": 0}
            conn.run("INSERT INTO knowledge (id, record, updated_at) VALUES (:id, :record, :at) ON CONFLICT DO NOTHING",
                     id=record["id"], record=json.dumps(fresh, default=str, sort_keys=True), at=utcnow())
            # Locked until commit: two healers learning from one template count one after the other.
            stored = json.loads(conn.one("SELECT record FROM knowledge WHERE id=:id FOR UPDATE", id=record["id"])
                                ["record"])
            key = "success_count" if success else "failure_count"
            stored[key] = int(stored.get(key) or 0) + 1
            conn.run(self._UPSERT_KNOWLEDGE, id=record["id"], record=json.dumps(stored, default=str, sort_keys=True),
                     at=utcnow())
            self._log(conn, "knowledge", None, {"count": 1, "source": stored.get("source", ""),
                                                "ids": [record["id"]], "outcome": key})
        return stored

    def list_knowledge(self) -> list[dict[str, Any]]:
        with self._tx() as conn:
            return [json.loads(r["record"]) for r in conn.all("SELECT record FROM knowledge ORDER BY id")]

    # -- bytes -------------------------------------------------------------------------------

    def put_blob(self, name: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        with self._tx() as conn:
            conn.run("INSERT INTO blobs (name, data, meta, updated_at) VALUES (:name, :data, :meta, :at)"
                     " ON CONFLICT (name) DO UPDATE SET data=EXCLUDED.data, meta=EXCLUDED.meta,"
                     " updated_at=EXCLUDED.updated_at", name=name, data=bytes(data),
                     meta=json.dumps(meta or {}, default=str), at=utcnow())
            self._log(conn, "blob", None, {"name": name, "bytes": len(data), "meta": meta or {}})

    def get_blob(self, name: str) -> bytes | None:
        with self._tx() as conn:
            row = conn.one("SELECT data FROM blobs WHERE name=:name", name=name)
        return bytes(row["data"]) if row else None

    def list_blobs(self, prefix: str = "") -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.all("SELECT name, octet_length(data) AS size, meta, updated_at FROM blobs"
                            " WHERE name LIKE :prefix ESCAPE '\\' ORDER BY name", prefix=R.like_escaped(prefix) + "%")
        return [{**r, "meta": json.loads(r["meta"])} for r in rows]

    # -- jobs outside Airflow ---------------------------------------------------------------------

    def upsert_pipeline_job(self, job: dict[str, Any]) -> None:
        row = R.pipeline_job(job)
        with self._tx() as conn:
            conn.run(f"INSERT INTO pipeline_jobs ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"
                     " ON CONFLICT (job_id) DO UPDATE SET "
                     + ", ".join(f"{k}=EXCLUDED.{k}" for k in row if k != "job_id"), **row)

    def get_pipeline_job(self, job_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            return conn.one("SELECT * FROM pipeline_jobs WHERE job_id = :id", id=str(job_id))

    def list_pipeline_jobs(self, *, job_type: str | None = None, status: str | None = None, limit: int = 50,
                           offset: int = 0) -> list[dict[str, Any]]:
        filters = {k: v for k, v in (("job_type", job_type), ("status", status)) if v}
        with self._tx() as conn:
            return conn.all(f"SELECT * FROM pipeline_jobs {R.where([f'{k} = :{k}' for k in filters])}"
                            " ORDER BY updated_at DESC, job_id LIMIT :limit OFFSET :offset",
                            limit=max(1, min(int(limit), 500)), offset=max(int(offset), 0), **filters)

    def strategy_record(self, strategy: str, *, days: int = 90) -> dict[str, Any]:
        since = utc_iso(datetime.now(timezone.utc) - timedelta(days=days))
        with self._tx() as conn:
            row = conn.one("SELECT COUNT(*) FILTER (WHERE outcome = :success) AS success,"
                           " COUNT(*) FILTER (WHERE outcome = :failed) AS failed FROM actions"
                           " WHERE strategy = :strategy AND outcome IN (:success, :failed) AND started_at >= :since",
                           success=Outcome.SUCCESS.value, failed=Outcome.FAILED.value, strategy=strategy, since=since)
        return R.strategy_record(strategy, days, row["success"], row["failed"])


class _Conn:
    """A SQLAlchemy connection with the three calls the store makes, rows as dicts, text made safe."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any):
        self._conn = conn

    def run(self, statement: str, **params: Any) -> Any:
        return self._conn.execute(_sql(statement), {k: _clean(v) for k, v in params.items()})

    def many(self, statement: str, rows: list[dict[str, Any]]) -> Any:
        return self._conn.execute(_sql(statement), [{k: _clean(v) for k, v in r.items()} for r in rows])

    def one(self, statement: str, **params: Any) -> dict[str, Any] | None:
        row = self.run(statement, **params).mappings().first()
        return dict(row) if row is not None else None

    def all(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.run(statement, **params).mappings()]

    def raw(self, statement: str) -> None:
        """DDL as written (dollar quotes and all), not parsed for parameters."""
        self._conn.exec_driver_sql(statement)


def _version(conn: _Conn) -> int:
    """The newest applied version, 0 for a database without the healer's tables."""
    # pg_tables, not to_regclass: a catalog query sees what was committed before it began, where a
    # name lookup may answer from this session's cache.
    tables = {r["tablename"] for r in conn.all("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname ="
                                               " current_schema() AND tablename IN ('schema_migrations', 'incidents')")}
    if "schema_migrations" not in tables:
        if "incidents" in tables:
            raise StoreSchemaError("This database has an incidents table but no schema_migrations: it is not a "
                                   "healer store, or one made by hand. Point [healer] store_url at its own database.")
        return 0
    return int(conn.one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")["v"])


def _driver_url(url: str) -> str:
    """``url`` with psycopg 3 as its driver unless it names one (SQLAlchemy's default is psycopg2)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url
