"""The BigQuery store's sink: rows queued in memory, sent in batches by a thread, spooled when refused.

::

    put(rows) ──> per-table queues ──> thread (full batch, or every flush_seconds, flush(), close(), exit)
                                          │ insertAll with an insertId a row, retried with backoff
                                          ├──> rejected.jsonl   rows BigQuery calls invalid (never resent)
                                          └──> <spool>.jsonl    the rest, replayed first at the next flush

Nothing here imports ``google.cloud`` at module level: the thread does, at its first flush.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_healer.exceptions import StoreError
from airflow_healer.gcp.bigquery_tables import (
    SCHEMA_LABEL,
    SCHEMA_VERSION,
    TABLES,
    Row,
    TableSpec,
    schema_version_of,
    table_resource,
)

log = logging.getLogger(__name__)

#: An insertAll request is sent before its JSON reaches this size (BigQuery refuses requests over 10 MB).
MAX_REQUEST_BYTES = 8 * 1024 * 1024
#: Seconds one BigQuery request may take.
REQUEST_TIMEOUT = 30.0
#: BigQuery's reasons for a 403 that is a quota, worth retrying, not a refusal.
QUOTA_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded", "userRateLimitExceeded", "backendError"})


# -- the spool: rows BigQuery did not take, for the next flush ----------------------------------------


class Spool:
    """A JSONL file of rows, shared by the processes of one machine.

    Appends are one ``write`` of an ``O_APPEND`` file (concurrent lines do not interleave). A replay
    renames the file first (``<name>.replaying.<pid>.<ns>``), so rows spooled meanwhile start a new file,
    and a replay that died leaves its file for the next one to take.
    """

    def __init__(self, path: Path):
        self.path = path

    def append(self, rows: Iterable[Row], reason: str) -> int:
        data = b"".join(row.line(reason) for row in rows)
        if not data:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return data.count(b"\n")

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as fh:
            return sum(1 for line in fh if line.strip())

    def claim(self) -> list[Path]:
        """Take the spool, and what replays of processes that died left behind."""
        if not self.path.parent.is_dir():
            return []
        claimed = []
        for left in self.path.parent.glob(f"{self.path.name}.replaying.*"):
            try:
                os.kill(int(left.name.rsplit(".", 2)[1]), 0)
            except (ValueError, IndexError, ProcessLookupError):
                claimed.append(left)
            except PermissionError:
                pass  # alive, someone else's
        mine = self.path.with_name(f"{self.path.name}.replaying.{os.getpid()}.{time.time_ns()}")
        try:
            os.replace(self.path, mine)
            claimed.append(mine)
        except FileNotFoundError:
            pass
        return claimed

    def read(self, claimed: Sequence[Path]) -> list[Row]:
        """The claimed files' rows, each once; a line that is not one is moved aside and said."""
        rows: dict[tuple[str, str], Row] = {}
        for part in claimed:
            for raw in part.read_bytes().splitlines():
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                    row = Row(str(line["table"]), str(line["row_id"]), dict(line["row"]))
                    if row.table not in TABLES:
                        raise ValueError(f"no table {row.table!r}")
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("Moving an unreadable spooled BigQuery row aside (%s): %.200s", exc, raw)
                    self._aside(raw)
                    continue
                rows[(row.table, row.row_id)] = row
        return list(rows.values())

    def _aside(self, raw: bytes) -> None:
        aside = self.path.with_name(self.path.name.replace(".jsonl", ".unreadable.jsonl"))
        fd = os.open(aside, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, raw + b"\n")
        finally:
            os.close(fd)


# -- the sink: batches, retries, spool ------------------------------------------------------------------


def _classify_error(exc: BaseException) -> tuple[bool, str]:
    """(retryable, why) of what a BigQuery call raised."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    why = f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, auth.TransportError,
                        TimeoutError, ConnectionError)):
        return True, why
    if isinstance(exc, api.ServerError) or getattr(exc, "code", None) in (408, 429):
        return True, why
    if isinstance(exc, api.Forbidden):
        reasons = {e.get("reason") for e in getattr(exc, "errors", []) or [] if isinstance(e, dict)}
        return bool(reasons & QUOTA_REASONS), why
    return False, why


class Sink:
    """Rows queued in memory and sent to BigQuery in batches by a daemon thread.

    A table's queue is sent when it holds ``batch_size`` rows (full batches only, so that N rows are
    ceil(N / batch_size) requests whenever they are sent), and everything queued every
    ``flush_seconds``, on :meth:`flush`, :meth:`close` and at exit. A batch that fails is asked again
    ``retries`` times with exponential backoff, then spooled; the spool is replayed first at the next
    flush. Rows BigQuery refuses as invalid are written to ``<spool>.rejected.jsonl`` with why: sending
    them again cannot succeed.

    :param open_client: makes the ``google.cloud.bigquery.Client`` (called in the thread, at first use).
    """

    def __init__(self, open_client: Callable[[], Any], project: str, dataset: str, *, location: str | None,
                 spool: Spool, batch_size: int = 500, flush_seconds: float = 5.0, retries: int = 3,
                 backoff_seconds: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.open_client, self.project, self.dataset, self.location = open_client, project, dataset, location
        self.spool = spool
        self.batch_size, self.flush_seconds = batch_size, flush_seconds
        self.retries, self.backoff_seconds, self.sleep = retries, backoff_seconds, sleep
        self._reset()
        self._exit_hook = False

    def _reset(self) -> None:
        """A fresh state for this process (at start, and in a forked child: the parent sends its own rows)."""
        self._pid = os.getpid()
        self._queues: dict[str, list[Row]] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._ready = False

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    @property
    def pending(self) -> int:
        """Rows queued in memory, not yet sent."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def put(self, rows: Iterable[Row]) -> None:
        """Queue rows (never blocks on BigQuery; starts the thread at the first row)."""
        self._here()
        full = False
        with self._lock:
            for row in rows:
                queue = self._queues.setdefault(row.table, [])
                queue.append(row)
                full = full or len(queue) >= self.batch_size
            if self._thread is None or not self._thread.is_alive():
                self._start()
        if full:
            self._wake.set()

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"healer-bigquery-{self.dataset}", daemon=True)
        self._thread.start()
        if not self._exit_hook:
            atexit.register(self.close)
            self._exit_hook = True

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(max(self.flush_seconds - (time.monotonic() - last), 0.0))
            self._wake.clear()
            if self._stop.is_set():
                return
            # Woken by a full batch: send full batches only, unless the timer is due anyway (a steady
            # stream of full batches must not hold a small table's rows back for ever).
            due = time.monotonic() - last >= self.flush_seconds
            if due:
                last = time.monotonic()
            try:
                self._flush(full_only=not due)
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure; the rows are spooled
                log.exception("The healer's BigQuery sink failed a flush; its rows wait in %s", self.spool.path)

    def flush(self) -> int:
        """Send every queued and spooled row now; returns how many BigQuery took. Never raises."""
        self._here()
        try:
            return self._flush(full_only=False)
        except Exception:  # noqa: BLE001 - said; the rows are spooled
            log.exception("The healer's BigQuery sink failed a flush; its rows wait in %s", self.spool.path)
            return 0

    def close(self) -> None:
        """Stop the thread and send what is queued (what BigQuery does not take is spooled)."""
        if self._pid != os.getpid():
            self._reset()
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.flush_seconds + REQUEST_TIMEOUT)
        self._thread = None
        if self._exit_hook:
            atexit.unregister(self.close)
            self._exit_hook = False
        self.flush()

    # -- one flush -----------------------------------------------------------------------------

    def _take(self, full_only: bool) -> list[Row]:
        with self._lock:
            taken: list[Row] = []
            for table, queue in self._queues.items():
                n = len(queue) - len(queue) % self.batch_size if full_only else len(queue)
                taken.extend(queue[:n])
                self._queues[table] = queue[n:]
            return taken

    def _flush(self, full_only: bool) -> int:
        with self._flushing:
            rows = self._take(full_only)
            claimed = [] if full_only else self.spool.claim()
            spooled = self.spool.read(claimed)
            if not rows and not spooled:
                self._remove(claimed)
                return 0
            sent, failed = self._send(spooled + rows)
            try:
                for reason, left in failed:
                    self.spool.append(left, reason)
            except OSError as exc:
                lost = sum(len(left) for _, left in failed)
                log.error("BigQuery did not take %d row(s) (%s) and the spool %s cannot be written (%s): they are "
                          "lost to BigQuery (the coordination store has them)", lost, failed[0][0], self.spool.path,
                          exc)
                return sent
            if failed:
                log.warning("BigQuery did not take %d row(s) (%s); spooled them to %s for the next flush",
                            sum(len(left) for _, left in failed), failed[0][0], self.spool.path)
            self._remove(claimed)
            return sent

    @staticmethod
    def _remove(claimed: Sequence[Path]) -> None:
        for part in claimed:
            part.unlink(missing_ok=True)

    def _send(self, rows: list[Row]) -> tuple[int, list[tuple[str, list[Row]]]]:
        """Insert ``rows`` table by table, batch by batch: (rows taken, [(why, rows to spool)])."""
        try:
            client = self._connect()
        except Exception as exc:  # noqa: BLE001 - no client, no dataset: every row waits in the spool
            return 0, [(_classify_error(exc)[1], rows)]
        sent, failed, down = 0, [], ""
        by_table: dict[str, list[Row]] = {}
        for row in rows:
            by_table.setdefault(row.table, []).append(row)
        for table, table_rows in by_table.items():
            for batch in self._batches(table_rows):
                if down:  # BigQuery is unreachable: the rest waits too, instead of each batch backing off
                    failed.append((down, batch))
                    continue
                took, left, reason, reachable = self._insert(client, table, batch)
                sent += took
                if left:
                    failed.append((reason, left))
                    down = "" if reachable else reason
        return sent, failed

    def _batches(self, rows: list[Row]) -> Iterator[list[Row]]:
        """At most ``batch_size`` rows and :data:`MAX_REQUEST_BYTES` of JSON a request."""
        batch: list[Row] = []
        size = 0
        for row in rows:
            row_size = row.size()
            if batch and (len(batch) >= self.batch_size or size + row_size > MAX_REQUEST_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(row)
            size += row_size
        if batch:
            yield batch

    def _insert(self, client: Any, table: str, batch: list[Row]) -> tuple[int, list[Row], str, bool]:
        """Insert one batch, asking again what failed.

        :returns: rows taken, rows left, why they are left, and whether BigQuery answered at all (insert
            errors) rather than not (a transport error, 5xx after every retry).
        """
        target = f"{self.project}.{self.dataset}.{table}"
        left, reason, took, answered = batch, "", 0, True
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                errors = client.insert_rows_json(target, [r.row for r in left], row_ids=[r.row_id for r in left],
                                                 retry=None, timeout=REQUEST_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - classified: asked again, or spooled at once
                retryable, reason = _classify_error(exc)
                answered = False
                if _not_found(exc):
                    self._ready = False  # the table went away: the next flush creates it again
                if not retryable:
                    return took, left, reason, True
                continue
            answered = True
            took += len(left) - len(errors)
            left, reason = self._after_errors(table, left, errors)
            if not left:
                return took, [], "", True
        return took, left, reason, answered

    def _after_errors(self, table: str, batch: list[Row], errors: list[dict[str, Any]]) -> tuple[list[Row], str]:
        """The rows of ``batch`` worth sending again; those BigQuery calls invalid are rejected for good."""
        if not errors:
            return [], ""
        retry, reasons = [], []
        for error in errors:
            index = int(error.get("index", -1))
            if not 0 <= index < len(batch):
                continue
            found = [e for e in error.get("errors", []) if isinstance(e, dict)]
            if any(e.get("reason") == "invalid" for e in found):
                self._reject(batch[index], found)
            else:
                retry.append(batch[index])
                reasons.extend(str(e.get("reason") or e.get("message")) for e in found)
        why = f"insert errors in {table}: {', '.join(sorted(set(reasons)))}" if reasons else ""
        return retry, why

    def _reject(self, row: Row, errors: list[dict[str, Any]]) -> None:
        rejected = Spool(self.spool.path.with_name(self.spool.path.name.replace(".jsonl", ".rejected.jsonl")))
        why = "; ".join(f"{e.get('reason')}: {e.get('message', '')} ({e.get('location', '')})" for e in errors)
        rejected.append([row], why[:2000])
        log.error("BigQuery refused a row of %s (%s); it is kept in %s", row.table, why[:500], rejected.path)

    # -- the client and the tables ------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is None:
            self._client = self.open_client()
        if not self._ready:
            self.ensure_tables(self._client)
            self._ready = True
        return self._client

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """``call`` asked again on transient errors, as inserts are."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                retryable, why = _classify_error(exc)
                if not retryable or attempt >= self.retries:
                    raise StoreError(f"BigQuery {what} in {self.project}.{self.dataset} failed: {why}") from exc
            self.sleep(self.backoff_seconds * 2 ** attempt)
            attempt += 1

    def ensure_tables(self, client: Any) -> dict[str, Any]:
        """Create the dataset and tables if missing, and add the columns an older version's tables lack.

        Idempotent (``exists_ok``: a 409 is fine): every process does it once, at its first flush.
        :returns: ``{"created": [tables], "added": {table: [columns]}}``.
        """
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            dataset.location = self.location
        self._call("create_dataset", lambda: client.create_dataset(dataset, exists_ok=True, retry=None,
                                                                   timeout=REQUEST_TIMEOUT))
        report: dict[str, Any] = {"created": [], "added": {}}
        for spec in TABLES.values():
            wanted = bigquery.Table.from_api_repr(table_resource(self.project, self.dataset, spec))
            try:
                self._call(f"create_table {spec.name}", lambda t=wanted: client.create_table(
                    t, retry=None, timeout=REQUEST_TIMEOUT))
                report["created"].append(spec.name)
                continue
            except StoreError as exc:
                if getattr(exc.__cause__, "code", None) != 409:
                    raise
            # It exists (made by another process, or by an older version): it may lack columns.
            table = self._call(f"get_table {spec.name}", lambda t=wanted: client.get_table(
                t.reference, retry=None, timeout=REQUEST_TIMEOUT))
            added = self.add_columns(client, table, spec)
            if added:
                report["added"][spec.name] = added
        return report

    def add_columns(self, client: Any, table: Any, spec: TableSpec) -> list[str]:
        """Add the columns of ``spec`` that ``table`` lacks (as NULLABLE: BigQuery adds no REQUIRED
        column to a table with rows), and raise its schema-version label; returns the added names.

        A table labelled with a newer version than this code's is left as it is.
        """
        from google.cloud import bigquery

        have = {field.name for field in table.schema}
        missing = [c for c in spec.columns if c.name not in have]
        labels = dict(table.labels or {})
        version = schema_version_of(labels)
        if version > SCHEMA_VERSION or (not missing and version == SCHEMA_VERSION):
            return []
        table.schema = [*table.schema, *(bigquery.SchemaField(c.name, c.type, mode="NULLABLE") for c in missing)]
        table.labels = {**labels, SCHEMA_LABEL: str(SCHEMA_VERSION)}
        self._call(f"update_table {spec.name}", lambda: client.update_table(table, ["schema", "labels"], retry=None,
                                                                           timeout=REQUEST_TIMEOUT))
        if missing:
            log.info("Added column(s) %s to BigQuery table %s", ", ".join(c.name for c in missing), table.table_id)
        return [c.name for c in missing]


def _not_found(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 404
