"""BigQuery as the healer's analytics store, beside a coordination store that keeps the healer exact.

BigQuery has no row locks, its DML takes seconds and has per-table concurrency limits, and rows still in
the streaming buffer cannot be UPDATEd: a failure callback cannot wait on it, and two healers cannot
take a lease in it. So :class:`BigQueryStore` is two things::

    Store call ──> coordination store (SQLite on one machine, PostgreSQL when workers share it)
         │            leases, act_once, idempotent failures, proposals, knowledge counts: its transactions
         └──> rows ──> in-memory queue ──> daemon thread ──> insertAll (insertId a row)
                                              │ still failing after retries
                                              └──> <spool_dir>/bigquery-<project>-<dataset>.jsonl
                                                   (replayed at the next flush)

Every method of the :class:`~airflow_healer.core.store.base.Store` port is answered by the coordination
store. After a write, what changed is read back from it (the incident, the action, the job, the new
ledger entries) and queued as rows of five append-only, day-partitioned and clustered tables:
``incidents``, ``pipeline_jobs``, ``remediation_actions``, ``ledger`` and ``knowledge``. A row is never
updated: a change appends a newer version, and reads take the latest version of each key
(``QUALIFY ROW_NUMBER() OVER (PARTITION BY key ORDER BY updated_at DESC) = 1``). A row's insertId is a
digest of its content, so a batch sent again (a retry, a replayed spool) is deduplicated by BigQuery,
and should its best-effort deduplication miss, the copy is the same version and the latest-version
reads still count it once.

:meth:`BigQueryStore.analytics` and the five trend methods are parameterised queries over those tables;
``overview``, ``incident_page`` and every other read stay on the coordination store, which is exact
and answers in milliseconds.

``google.cloud`` is imported by the sink's thread and the query methods, never when this module loads:
a failure callback that opens a BigQuery store pays for a coordination write and a few reads, not for
importing the BigQuery client.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_healer.core.store.base import Store, linear_forecast, utc_iso
from airflow_healer.core.types import (
    Action,
    Classification,
    Failure,
    Incident,
    IncidentStatus,
    Outcome,
)
from airflow_healer.exceptions import ConfigurationError, StoreError
from airflow_healer.gcp.bigquery_sink import REQUEST_TIMEOUT, Sink, Spool
from airflow_healer.gcp.bigquery_tables import (
    SCHEMA_VERSION,
    TABLES,
    Row,
    action_row,
    incident_row,
    is_external,
    job_row,
    knowledge_row,
    ledger_row,
    schema_version_of,
    try_row,
)

log = logging.getLogger(__name__)

#: Newest ledger entries of the changed incident read back after a write, to mirror those it appended.
LEDGER_TAIL = 50
#: Ledger seqs (and action ids) this process remembers having queued.
SEEN_SEQS = 10_000

_PROJECT = re.compile(r"^[a-z][a-z0-9.:-]{2,62}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


# -- the store -----------------------------------------------------------------------------------------


class BigQueryStore:
    """The :class:`~airflow_healer.core.store.base.Store` of a coordination store, mirrored to BigQuery.

    Every method is the coordination store's: a lease, ``act_once``, a failure recorded twice, a proposal
    decided once and a knowledge count are exactly as safe as its transactions. What a write changed is
    then queued for BigQuery (see the module docstring) and sent by a background thread: no call waits
    on BigQuery, and no BigQuery failure ever makes a call fail.

    ``analytics`` and :meth:`trend_per_day`, :meth:`distribution_per_type`, :meth:`success_rate_per_strategy`,
    :meth:`mean_time_to_recovery` and :meth:`top_failing_tasks` query BigQuery (what was flushed);
    ``overview``, ``incident_page``, ``similar_incidents`` and every other read are the coordination
    store's.

    :param project: the Google Cloud project of the dataset.
    :param dataset: the BigQuery dataset (created at first use).
    :param coordination: the store that answers every call (``SQLiteStore``, the PostgreSQL store).
    :param client: a ``google.cloud.bigquery.Client``; made at first use when omitted, with the
        credentials of Airflow connection ``gcp_conn_id`` (anonymous under ``BIGQUERY_EMULATOR_HOST``).
    :param location: where the dataset is created and queries run (``US``, ``EU``, ``europe-west1``).
    :param batch_size: rows a table's insertAll request carries at most; a full batch is sent at once.
    :param flush_seconds: how often the thread sends what is queued.
    :param spool_dir: where rows BigQuery did not take wait; beside a SQLite coordination file when
        omitted, else ``[healer] spool_dir``.
    :param retries: how many times a failed request is asked again before its rows are spooled.
    :param backoff_seconds: the first wait before asking again; it doubles with each retry.
    """

    def __init__(self, project: str, dataset: str, *, coordination: Store, client: Any = None,
                 location: str | None = None, batch_size: int = 500, flush_seconds: float = 5.0,
                 spool_dir: str | Path | None = None, gcp_conn_id: str = "google_cloud_default",
                 retries: int = 3, backoff_seconds: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        if not _PROJECT.match(project or ""):
            raise ConfigurationError(f"BigQuery project {project!r} is not a project id (lowercase letters, digits "
                                     "and hyphens, e.g. my-project).")
        if not _DATASET.match(dataset or ""):
            raise ConfigurationError(f"BigQuery dataset {dataset!r}: use letters, digits and underscores "
                                     "(e.g. airflow_healer).")
        if not 1 <= int(batch_size) <= 10_000:
            raise ConfigurationError(f"batch_size is {batch_size}; BigQuery takes 1 to 10000 rows a request "
                                     "(500 is its advice).")
        if not float(flush_seconds) > 0:
            raise ConfigurationError(f"flush_seconds is {flush_seconds}; use a positive number of seconds.")
        if isinstance(coordination, BigQueryStore):
            raise ConfigurationError("The coordination store of a BigQuery store cannot be another BigQuery "
                                     "store: use sqlite:////path.db or a PostgreSQL URL.")
        self.project, self.dataset, self.location = project, dataset, location
        self.coordination = coordination
        self.gcp_conn_id = gcp_conn_id
        self._given_client = client
        self._client: tuple[int, Any] | None = None
        spool = Spool(Path(spool_dir or _default_spool_dir(coordination)) / _spool_name(project, dataset))
        self.sink = Sink(lambda: self.client, project, dataset, location=location, spool=spool,
                         batch_size=int(batch_size), flush_seconds=float(flush_seconds), retries=retries,
                         backoff_seconds=backoff_seconds, sleep=sleep)
        self._ledger_lock = threading.Lock()
        self._ledger_floor: int | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._action_incidents: OrderedDict[int, str] = OrderedDict()

    def __repr__(self) -> str:
        return f"BigQueryStore({self.project}.{self.dataset}, coordination={self.coordination!r})"

    @property
    def client(self) -> Any:
        """The BigQuery client: the one given, else one made on first use in this process (a forked
        child makes its own: an HTTP session must not be shared across a fork)."""
        if self._given_client is not None:
            return self._given_client
        if self._client is None or self._client[0] != os.getpid():
            self._client = (os.getpid(), self._open_client())
        return self._client[1]

    def _open_client(self) -> Any:
        from google.cloud import bigquery

        from airflow_healer.gcp.sources import bigquery_credentials

        # BIGQUERY_EMULATOR_HOST, when set, is read by the client itself as its endpoint.
        return bigquery.Client(project=self.project, credentials=bigquery_credentials(self.gcp_conn_id),
                               location=self.location)

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    # -- the sink's controls ------------------------------------------------------------------------

    def flush(self) -> int:
        """Send what is queued and spooled now; returns the rows BigQuery took. Never raises."""
        return self.sink.flush()

    def close(self) -> None:
        """Send what is queued (spooling what BigQuery does not take), then close the coordination store."""
        self.sink.close()
        closer = getattr(self.coordination, "close", None)
        if callable(closer):
            closer()

    def spooled_rows(self) -> int:
        """Rows waiting in the spool for the next flush."""
        return self.sink.spool.count()

    # -- mirroring what a write changed -------------------------------------------------------------

    def _before_write(self) -> None:
        """Learn, once, where the ledger stands: entries from before this process wrote are not its to send."""
        if self._ledger_floor is not None:
            return
        try:
            newest = self.coordination.ledger(limit=1)
        except Exception as exc:  # noqa: BLE001 - the write itself will say what is wrong with the store
            log.debug("Could not read the ledger's end before a write: %s", exc)
            return
        self._ledger_floor = int(newest[-1]["seq"]) if newest else 0

    def _mirror(self, incident_id: str | None, build: Callable[[], list[Row]] | None = None) -> None:
        """Queue the rows of what the write changed and the ledger entries it appended. Never raises:
        the write is done, and the coordination store has it whatever happens to its copy."""
        try:
            rows = build() if build is not None else []
            rows += self._new_ledger_rows(incident_id)
            if rows:
                self.sink.put(rows)
        except Exception as exc:  # noqa: BLE001 - BigQuery is the copy; the write stands
            log.warning("Healer could not queue a change of %s for BigQuery: %s", incident_id or "the store", exc)

    def _new_ledger_rows(self, incident_id: str | None) -> list[Row]:
        """The ledger entries of ``incident_id`` (of no incident, for None) this process has not sent yet.

        Entries are keyed by ``seq``: another process's entry read here too is the same row, deduplicated
        by its insertId and by ``seq`` when read.
        """
        floor = self._ledger_floor or 0
        entries = self.coordination.ledger(incident_id, limit=LEDGER_TAIL)
        rows = []
        with self._ledger_lock:
            for entry in entries:
                seq = int(entry["seq"])
                if seq <= floor or seq in self._seen or (incident_id is None and entry.get("incident_id")):
                    continue
                self._seen[seq] = None
                rows.append(Row.of("ledger", ledger_row(entry)))
            while len(self._seen) > SEEN_SEQS:
                self._seen.popitem(last=False)
        return rows

    def _incident_rows(self, incident_id: str, *, try_number: int | None = None) -> list[Row]:
        """The incident's new version, and (``try_number``) its try's ``pipeline_jobs`` row."""
        incident = self.coordination.get_incident(incident_id)
        if incident is None:
            return []
        rows = [Row.of("incidents", incident_row(incident))]
        if try_number is not None and not is_external(incident.dag_id):
            failure = next((f for f in incident.failures if f.try_number == try_number), None)
            if failure is not None:
                rows.append(Row.of("pipeline_jobs", try_row(incident, failure)))
        return rows

    def _action_rows(self, incident_id: str, action_id: int) -> list[Row]:
        incident = self.coordination.get_incident(incident_id)
        action = next((a for a in incident.actions if a.id == action_id), None) if incident else None
        return [Row.of("remediation_actions", action_row(incident, action))] if incident and action else []

    def _incident_of_action(self, action_id: int) -> str | None:
        """The incident of an action: remembered from ``add_action``, else its ``outcome`` ledger entry
        (an action finished by another process than the one that started it)."""
        with self._ledger_lock:
            known = self._action_incidents.get(action_id)
        if known is not None:
            return known
        for entry in reversed(self.coordination.ledger(limit=LEDGER_TAIL)):
            payload = entry.get("payload") or {}
            if entry.get("kind") == "outcome" and isinstance(payload, dict) and payload.get("action_id") == action_id:
                return entry.get("incident_id")
        return None

    # -- writes: the coordination store's, then mirrored ------------------------------------------

    def record_failure(self, failure: Failure) -> str:
        self._before_write()
        incident_id = self.coordination.record_failure(failure)
        self._mirror(incident_id, lambda: self._incident_rows(incident_id, try_number=failure.try_number))
        return incident_id

    def add_log(self, incident_id: str, try_number: int, *, excerpt: str, lines: list[dict[str, Any]],
                note: str = "", message: str | None = None, fingerprint: str | None = None) -> None:
        self._before_write()
        self.coordination.add_log(incident_id, try_number, excerpt=excerpt, lines=lines, note=note, message=message,
                                  fingerprint=fingerprint)
        self._mirror(incident_id, lambda: self._incident_rows(incident_id, try_number=try_number if message
                                                              else None))

    def set_classification(self, incident_id: str, classification: Classification) -> None:
        """Classify in the coordination store; BigQuery gets a new version of the incident and of its
        latest try's ``pipeline_jobs`` row, now with the error type."""
        self._before_write()
        self.coordination.set_classification(incident_id, classification)

        def rows() -> list[Row]:
            incident = self.coordination.get_incident(incident_id)
            return self._incident_rows(incident_id, try_number=incident.last_try_number) if incident else []

        self._mirror(incident_id, rows)

    def set_status(self, incident_id: str, status: IncidentStatus, reason: str = "") -> None:
        self._before_write()
        self.coordination.set_status(incident_id, status, reason)
        self._mirror(incident_id, lambda: self._incident_rows(incident_id))

    def add_action(self, incident_id: str, action: Action) -> int:
        self._before_write()
        action_id = self.coordination.add_action(incident_id, action)
        with self._ledger_lock:
            self._action_incidents[action_id] = incident_id
            while len(self._action_incidents) > SEEN_SEQS:
                self._action_incidents.popitem(last=False)
        self._mirror(incident_id, lambda: self._action_rows(incident_id, action_id))
        return action_id

    def finish_action(self, action_id: int, outcome: Outcome, detail: str = "", *, only_pending: bool = False) -> bool:
        self._before_write()
        done = self.coordination.finish_action(action_id, outcome, detail, only_pending=only_pending)
        if done:
            try:
                incident_id = self._incident_of_action(action_id)
            except Exception as exc:  # noqa: BLE001 - the outcome stands; only its copy is missing
                log.warning("Healer could not find the incident of action %s for BigQuery: %s", action_id, exc)
                incident_id = None
            if incident_id is None:
                log.warning("Healer could not find the incident of action %s: its outcome is in the coordination "
                            "store, not in BigQuery's remediation_actions", action_id)
            else:
                self._mirror(incident_id, lambda: self._action_rows(incident_id, action_id))
        return done

    def claim(self, incident_id: str, owner: str, lease_seconds: float = 600.0) -> bool:
        self._before_write()
        taken = self.coordination.claim(incident_id, owner, lease_seconds)
        if taken:
            self._mirror(incident_id)
        return taken

    def release(self, incident_id: str, owner: str) -> None:
        self._before_write()
        self.coordination.release(incident_id, owner)
        self._mirror(incident_id)

    def act_once(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, *,
                 actor: str, strategy: str) -> bool:
        self._before_write()
        first = self.coordination.act_once(dag_id, run_id, task_id, map_index, try_number, actor=actor,
                                           strategy=strategy)
        if first:
            self._mirror(None)
        return first

    def put_knowledge(self, records: list[dict[str, Any]], source: str = "") -> None:
        self._before_write()
        self.coordination.put_knowledge(records, source)
        self._mirror(None, lambda: [Row.of("knowledge", knowledge_row(r, source)) for r in records])

    def record_knowledge_outcome(self, record: dict[str, Any], success: bool) -> dict[str, Any]:
        self._before_write()
        stored = self.coordination.record_knowledge_outcome(record, success)
        self._mirror(None, lambda: [Row.of("knowledge", knowledge_row(stored))])
        return stored

    def add_proposal(self, incident: Incident, strategy: str, change: str, ttl_seconds: float, *,
                     content: dict[str, Any] | None = None, waiter: str = "") -> dict[str, Any]:
        self._before_write()
        proposal = self.coordination.add_proposal(incident, strategy, change, ttl_seconds, content=content,
                                                  waiter=waiter)
        self._mirror(incident.id)
        return proposal

    def decide_proposal(self, proposal_id: str, approve: bool, user: str, note: str = "") -> dict[str, Any]:
        self._before_write()
        decided = self.coordination.decide_proposal(proposal_id, approve, user, note)
        self._mirror(decided.get("incident_id"))
        return decided

    def upsert_pipeline_job(self, job: dict[str, Any]) -> None:
        self._before_write()
        self.coordination.upsert_pipeline_job(job)

        def rows() -> list[Row]:
            kept = self.coordination.get_pipeline_job(str(job["job_id"]))
            return [Row.of("pipeline_jobs", job_row(kept or job))]

        self._mirror(job.get("incident_id"), rows)

    def record_tier(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, name: str,
                    ladder: list[Any], rung: int) -> None:
        self.coordination.record_tier(dag_id, run_id, task_id, map_index, try_number, name, ladder, rung)

    def put_blob(self, name: str, data: bytes, meta: dict[str, Any] | None = None) -> None:
        """Model and index bytes stay in the coordination store; BigQuery gets the ledger entry only."""
        self._before_write()
        self.coordination.put_blob(name, data, meta)
        self._mirror(None)

    # -- reads: the coordination store's ---------------------------------------------------------------

    def get_incident(self, incident_id: str) -> Incident | None:
        return self.coordination.get_incident(incident_id)

    def find_incident(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Incident | None:
        return self.coordination.find_incident(dag_id, run_id, task_id, map_index)

    def list_incidents(self, *, dag_id: str | None = None, run_id: str | None = None, status: str | None = None,
                       limit: int = 100) -> list[Incident]:
        return self.coordination.list_incidents(dag_id=dag_id, run_id=run_id, status=status, limit=limit)

    def ledger(self, incident_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        return self.coordination.ledger(incident_id, limit)

    def list_knowledge(self) -> list[dict[str, Any]]:
        return self.coordination.list_knowledge()

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None:
        return self.coordination.get_proposal(proposal_id)

    def list_proposals(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self.coordination.list_proposals(status, limit, offset)

    def get_pipeline_job(self, job_id: str) -> dict[str, Any] | None:
        return self.coordination.get_pipeline_job(job_id)

    def list_pipeline_jobs(self, *, job_type: str | None = None, status: str | None = None, limit: int = 50,
                           offset: int = 0) -> list[dict[str, Any]]:
        return self.coordination.list_pipeline_jobs(job_type=job_type, status=status, limit=limit, offset=offset)

    def strategy_record(self, strategy: str, *, days: int = 90) -> dict[str, Any]:
        """From the coordination store: the engine decides on it, and BigQuery lags by a flush."""
        return self.coordination.strategy_record(strategy, days=days)

    def acted_by(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str | None:
        return self.coordination.acted_by(dag_id, run_id, task_id, map_index, try_number)

    def tiers(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        return self.coordination.tiers(dag_id, run_id, task_id, map_index)

    def get_blob(self, name: str) -> bytes | None:
        return self.coordination.get_blob(name)

    def list_blobs(self, prefix: str = "") -> list[dict[str, Any]]:
        return self.coordination.list_blobs(prefix)

    def similar_incidents(self, incident_id: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.coordination.similar_incidents(incident_id, limit)

    def incident_page(self, *, dag_id: str | None = None, status: str | None = None, error_type: str | None = None,
                      search: str | None = None, since: datetime | str | None = None, limit: int = 50,
                      before: str | None = None) -> dict[str, Any]:
        return self.coordination.incident_page(dag_id=dag_id, status=status, error_type=error_type, search=search,
                                               since=since, limit=limit, before=before)

    def overview(self, *, now: datetime | str | None = None, window_hours: float = 24) -> dict[str, Any]:
        return self.coordination.overview(now=now, window_hours=window_hours)

    # -- schema --------------------------------------------------------------------------------------

    #: The schema version ``airflow-healer db check`` expects of the dataset (its own numbering).
    schema_target = SCHEMA_VERSION

    def migrate(self) -> dict[str, Any]:
        """Bring the dataset to this version: create what is missing, add the columns older tables lack,
        label them :data:`SCHEMA_VERSION`; the coordination store is migrated first when it can be.

        :returns: ``{"schema_version", "created": [tables], "added": {table: [columns]}, "coordination"}``.
        """
        report: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        migrate = getattr(self.coordination, "migrate", None)
        if callable(migrate):
            report["coordination"] = migrate()
        report.update(self.sink.ensure_tables(self.client))
        return report

    def schema_version(self) -> int:
        """The oldest schema version among the dataset's tables (0 when one is missing or unlabelled)."""
        from google.api_core.exceptions import NotFound

        versions = []
        for name in TABLES:
            try:
                table = self.sink._call(f"get_table {name}", lambda n=name: self.client.get_table(
                    self.table_id(n), retry=None, timeout=REQUEST_TIMEOUT))
            except StoreError as exc:
                if isinstance(exc.__cause__, NotFound):
                    return 0
                raise
            versions.append(schema_version_of(dict(table.labels or {})))
        return min(versions)

    # -- analytics: parameterised queries over the latest versions -------------------------------------

    def _latest(self, table: str, where: str, columns: str = "*") -> str:
        """The latest version of each row of ``table`` that matches ``where`` (its partition filter)."""
        spec = TABLES[table]
        return (f"SELECT {columns} FROM `{self.table_id(table)}` WHERE {where}"
                f" QUALIFY ROW_NUMBER() OVER (PARTITION BY {spec.key} ORDER BY {spec.order}) = 1")

    def _sql(self, part: str) -> str:
        window = "created_at >= @since AND created_at < @until"
        incidents = f"`{self.table_id('incidents')}`"
        if part == "trend":
            # created_at is the same in every version of an incident: counting distinct ids needs no window
            # function. The window is applied before the join, where it prunes partitions.
            return (f"WITH i AS (SELECT incident_id, created_at FROM {incidents} WHERE {window})"
                    " SELECT CAST(day AS STRING) AS date, COUNT(DISTINCT i.incident_id) AS count"
                    " FROM UNNEST(GENERATE_DATE_ARRAY(DATE(@since), DATE_SUB(DATE(@until), INTERVAL 1 DAY))) AS day"
                    " LEFT JOIN i ON DATE(i.created_at) = day GROUP BY day ORDER BY day")
        if part == "types":
            latest = self._latest("incidents", window, "error_type")
            return f"SELECT error_type, COUNT(*) AS count FROM ({latest}) GROUP BY error_type ORDER BY count DESC, error_type"
        if part == "strategies":
            latest = self._latest("remediation_actions", "execution_time >= @since AND execution_time < @until",
                                  "strategy, success")
            return ("SELECT strategy, COUNTIF(success) AS success, COUNTIF(NOT success) AS failed, COUNT(*) AS total,"
                    " ROUND(SAFE_DIVIDE(COUNTIF(success), COUNTIF(success IS NOT NULL)), 4) AS success_rate"
                    f" FROM ({latest}) GROUP BY strategy ORDER BY total DESC, strategy")
        if part == "recovery":
            latest = self._latest("incidents", window, "status, created_at, updated_at")
            return ("SELECT COUNT(*) AS count, ROUND(AVG(seconds), 3) AS mean_seconds,"
                    " ROUND(ANY_VALUE(median), 3) AS median_seconds FROM ("
                    " SELECT seconds, PERCENTILE_CONT(seconds, 0.5) OVER () AS median FROM ("
                    " SELECT TIMESTAMP_DIFF(updated_at, created_at, MICROSECOND) / 1e6 AS seconds"
                    f" FROM ({latest}) WHERE status = @recovered))")
        if part == "dags":
            return (f"SELECT dag_id, COUNT(DISTINCT incident_id) AS count FROM {incidents} WHERE {window}"
                    " GROUP BY dag_id ORDER BY count DESC, dag_id LIMIT @limit")
        if part == "tasks":
            return (f"SELECT dag_id, task_id, COUNT(DISTINCT incident_id) AS count FROM {incidents} WHERE {window}"
                    " GROUP BY dag_id, task_id ORDER BY count DESC, dag_id, task_id LIMIT @limit")
        raise ValueError(part)

    @staticmethod
    def _window(days: int, now: datetime | str | None) -> tuple[int, datetime, datetime]:
        """The last ``days`` whole UTC days, today included: (days, since, until)."""
        days = max(1, min(int(days), 3660))
        today = datetime.fromisoformat(utc_iso(now or datetime.now(timezone.utc))).date()
        since = datetime(today.year, today.month, today.day, tzinfo=timezone.utc) - timedelta(days=days - 1)
        return days, since, since + timedelta(days=days)

    def _start(self, part: str, since: datetime, until: datetime, limit: int = 10) -> Any:
        """Start one analytics query (``jobs.insert``); its parameters are never written into its text."""
        from google.cloud import bigquery

        params = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
                  bigquery.ScalarQueryParameter("until", "TIMESTAMP", until)]
        if part == "recovery":
            params.append(bigquery.ScalarQueryParameter("recovered", "STRING", IncidentStatus.RECOVERED.value))
        if part in ("dags", "tasks"):
            params.append(bigquery.ScalarQueryParameter("limit", "INT64", max(1, min(int(limit), 1000))))
        config = bigquery.QueryJobConfig(query_parameters=params, use_legacy_sql=False,
                                         labels={"airflow_healer": part})
        try:
            return self.client.query(self._sql(part), job_config=config, location=self.location,
                                     timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            raise StoreError(f"BigQuery could not start the healer's {part} query on {self.project}.{self.dataset}: "
                             f"{exc}") from exc

    def _rows(self, part: str, job: Any) -> list[dict[str, Any]]:
        try:
            return [dict(row.items()) for row in job.result(timeout=120)]
        except Exception as exc:
            raise StoreError(f"BigQuery's {part} query on {self.project}.{self.dataset} failed: {exc}. Check that "
                             "the dataset exists (`airflow-healer db upgrade` creates it) and the connection's "
                             "account may run jobs (roles/bigquery.jobUser, dataViewer).") from exc

    def _query(self, part: str, days: int, now: datetime | str | None, limit: int = 10) -> list[dict[str, Any]]:
        _, since, until = self._window(days, now)
        return self._rows(part, self._start(part, since, until, limit))

    def trend_per_day(self, *, days: int = 30, now: datetime | str | None = None) -> list[dict[str, Any]]:
        """Incidents created each UTC day of the window, zero-filled: ``[{date, count}]``, oldest first."""
        return _daily(self._query("trend", days, now))

    def distribution_per_type(self, *, days: int = 30, now: datetime | str | None = None) -> list[dict[str, Any]]:
        """Incidents of the window by their latest error type: ``[{error_type, count}]`` (None: not classified)."""
        return _counts(self._query("types", days, now))

    def success_rate_per_strategy(self, *, days: int = 30, now: datetime | str | None = None) -> list[dict[str, Any]]:
        """Actions started in the window by strategy, as their latest version came out:
        ``[{strategy, success, failed, total, success_rate}]`` (rate None until one succeeded or failed)."""
        return _strategies(self._query("strategies", days, now))

    def mean_time_to_recovery(self, *, days: int = 30, now: datetime | str | None = None) -> dict[str, Any]:
        """Recovered incidents of the window, created to last updated: ``{count, mean_seconds,
        median_seconds, median_of}`` (the median is exact, of all of them)."""
        return _recovery(self._query("recovery", days, now))

    def top_failing_tasks(self, *, days: int = 30, now: datetime | str | None = None,
                          limit: int = 10) -> list[dict[str, Any]]:
        """The tasks with most incidents in the window: ``[{dag_id, task_id, count}]``."""
        return _counts(self._query("tasks", days, now, limit))

    def analytics(self, *, days: int = 30, now: datetime | str | None = None) -> dict[str, Any]:
        """What :meth:`SQLiteStore.analytics` returns, from BigQuery: its six queries run at once.

        Counts what has been flushed; the forecast is the least-squares line over ``daily``.
        """
        days, since, until = self._window(days, now)
        jobs = {part: self._start(part, since, until) for part in
                ("trend", "types", "strategies", "recovery", "dags", "tasks")}
        out = {part: self._rows(part, job) for part, job in jobs.items()}
        daily = _daily(out["trend"])
        ahead = linear_forecast([d["count"] for d in daily])
        last = until.date() - timedelta(days=1)
        return {
            "days": days, "since": since.date().isoformat(), "until": until.date().isoformat(),
            "total": sum(d["count"] for d in daily), "daily": daily, "error_types": _counts(out["types"]),
            "strategies": _strategies(out["strategies"]), "recovery": _recovery(out["recovery"]),
            "top_dags": _counts(out["dags"]), "top_tasks": _counts(out["tasks"]),
            "forecast": [{"date": (last + timedelta(days=i + 1)).isoformat(), "count": c} for i, c in enumerate(ahead)],
        }


def _daily(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"date": str(r["date"]), "count": int(r["count"] or 0)} for r in rows]


def _counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "count": int(r["count"] or 0)} for r in rows]


def _strategies(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"strategy": r["strategy"], "success": int(r["success"] or 0), "failed": int(r["failed"] or 0),
             "total": int(r["total"] or 0),
             "success_rate": float(r["success_rate"]) if r["success_rate"] is not None else None} for r in rows]


def _recovery(rows: list[dict[str, Any]]) -> dict[str, Any]:
    row = rows[0] if rows else {"count": 0, "mean_seconds": None, "median_seconds": None}
    count = int(row["count"] or 0)
    return {"count": count, "mean_seconds": row["mean_seconds"], "median_seconds": row["median_seconds"],
            "median_of": count}


def _default_spool_dir(coordination: Store) -> Path:
    """Beside a coordination file (SQLite: the same disk the healer already writes), else ``[healer] spool_dir``."""
    path = getattr(coordination, "path", None)
    if isinstance(path, (str, Path)) and str(path):
        return Path(path).parent
    from airflow_healer.core.config import HealerConfig

    return Path(HealerConfig.load().spool_dir)


def _spool_name(project: str, dataset: str) -> str:
    return "bigquery-" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{project}-{dataset}") + ".jsonl"


# -- from a URL ---------------------------------------------------------------------------------------

_URL_OPTIONS = ("coordination", "location", "gcp_conn_id", "batch_size", "flush_seconds", "spool_dir")
_URL_HELP = ("write bigquery://PROJECT/DATASET?coordination=<the url-encoded URL of the store that holds leases>, "
             "e.g. bigquery://my-project/airflow_healer?coordination=sqlite%3A%2F%2F%2F%2Fhome%2Fairflow%2F"
             "healer.db on one machine, or a PostgreSQL store's URL when several workers share it")


def store_from_url(url: str, *, timeout: float = 10.0, open_coordination: Callable[..., Store]) -> BigQueryStore:
    """The store ``bigquery://PROJECT/DATASET?coordination=URL[&location=EU&gcp_conn_id=...&batch_size=500
    &flush_seconds=5&spool_dir=/path]`` names; raises ConfigurationError saying what to write."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    project, dataset = parts.netloc, parts.path.strip("/")
    if not project or not dataset or "/" in dataset:
        raise ConfigurationError(f"[healer] store_url {url!r} names no project and dataset: {_URL_HELP}.")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ConfigurationError(f"[healer] store_url {url!r}: its query cannot be read ({exc}); {_URL_HELP}.") from None
    unknown = sorted(set(query) - set(_URL_OPTIONS))
    if unknown:
        raise ConfigurationError(f"[healer] store_url {url!r}: unknown option(s) {', '.join(unknown)} (known: "
                                 f"{', '.join(_URL_OPTIONS)}); a coordination URL with its own ? and & must be "
                                 "url-encoded.")
    repeated = sorted(k for k, v in query.items() if len(v) > 1)
    if repeated:
        raise ConfigurationError(f"[healer] store_url {url!r} gives {', '.join(repeated)} more than once.")
    options = {k: v[0].strip() for k, v in query.items()}
    coordination = options.get("coordination", "")
    if not coordination:
        raise ConfigurationError(f"[healer] store_url {url!r} has no coordination store: BigQuery keeps the "
                                 f"analytics copy, not the leases and the once-only actions; {_URL_HELP}. Cloud "
                                 "Composer workers share no disk: give them a PostgreSQL coordination store.")
    if coordination.split(":", 1)[0].split("+")[0] == "bigquery":
        raise ConfigurationError(f"[healer] store_url {url!r}: the coordination store cannot be BigQuery; {_URL_HELP}.")
    try:
        batch_size = int(options.get("batch_size", "500"))
        flush_seconds = float(options.get("flush_seconds", "5"))
    except ValueError:
        raise ConfigurationError(f"[healer] store_url {url!r}: batch_size is a whole number of rows and "
                                 "flush_seconds a number of seconds.") from None
    return BigQueryStore(project, dataset, coordination=open_coordination(coordination, timeout=timeout),
                         location=options.get("location") or None, batch_size=batch_size,
                         flush_seconds=flush_seconds, spool_dir=options.get("spool_dir") or None,
                         gcp_conn_id=options.get("gcp_conn_id") or "google_cloud_default")


__all__ = ["SCHEMA_VERSION", "TABLES", "BigQueryStore", "store_from_url"]
