"""``airflow-healer db copy``: every row of one store into another, as it was (ids, times, the ledger).

The usual move is from the embedded SQLite file to PostgreSQL when Airflow grows past one machine.
The destination must be empty; it is written in one transaction, so an interrupted copy leaves it
empty again, and the counts of every table are compared at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from airflow_healer.exceptions import StoreError

#: The tables of a store in the order rows may be inserted (a row's references first), each with
#: the key its rows are read in.
TABLES: dict[str, str] = {
    "incidents": "id",
    "failures": "incident_id, try_number",
    "actions": "id",
    "ledger": "seq",
    "knowledge": "id",
    "tiers": "dag_id, run_id, task_id, map_index, try_number, name",
    "proposals": "id",
    "acted": "dag_id, run_id, task_id, map_index, try_number",
    "pipeline_jobs": "job_id",
    "blobs": "name",
}


class Tables:
    """An adapter's transaction seen as tables: rows read a batch at a time by key, rows inserted as they are.

    :param query: runs a SELECT (``:name`` parameters) and returns its rows as dicts.
    :param insert: runs one INSERT (``:name`` parameters) for each of a list of dicts.
    """

    def __init__(self, query: Callable[[str, dict[str, Any]], list[dict[str, Any]]],
                 insert: Callable[[str, list[dict[str, Any]]], None]):
        self.query, self._insert = query, insert

    def rows(self, table: str, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every row of ``table`` in key order, ``batch`` at a time (a keyset, not OFFSET: each batch costs the same)."""
        columns = [c.strip() for c in TABLES[table].split(",")]
        key = ", ".join(columns)
        after: dict[str, Any] | None = None
        while True:
            where = "" if after is None else f"WHERE ({key}) > ({', '.join(':k_' + c for c in columns)})"
            rows = self.query(f"SELECT * FROM {table} {where} ORDER BY {key} LIMIT {int(batch)}", after or {})
            if not rows:
                return
            yield rows
            after = {"k_" + c: rows[-1][c] for c in columns}

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            columns = list(rows[0])
            self._insert(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
                         rows)

    def counts(self) -> dict[str, int]:
        return {table: int(self.query(f"SELECT COUNT(*) AS n FROM {table}", {})[0]["n"]) for table in TABLES}


def copy_store(source: Any, target: Any, *, batch: int = 5000,
               progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; returns the rows copied per table.

    Both are brought to the current schema first (``migrate``). The source is read in one snapshot,
    the destination written in one transaction: a StoreError (the destination holds rows, a count
    differs at the end) leaves the destination as it was.
    """
    for store in (source, target):
        if not (hasattr(store, "reading") and hasattr(store, "loading")):
            raise StoreError(f"db copy moves SQLite and PostgreSQL stores; {store!r} is not one (for a BigQuery "
                             "store, copy its coordination store).")
    if repr(source) == repr(target):
        raise StoreError(f"db copy: the source and the destination are the same store ({source!r}).")
    source.migrate()
    target.migrate()
    copied = dict.fromkeys(TABLES, 0)
    with source.reading() as src, target.loading() as dst:
        occupied = {table: n for table, n in dst.counts().items() if n}
        if occupied:
            raise StoreError(f"db copy: the destination {target!r} is not empty ({_counts(occupied)}); copy into a "
                             "new database, or empty this one first.")
        for table in TABLES:
            for rows in src.rows(table, batch):
                dst.insert(table, rows)
                copied[table] += len(rows)
                if progress:
                    progress(table, copied[table])
        expected, landed = src.counts(), dst.counts()
        if not expected == landed == copied:
            raise StoreError(f"db copy: the counts differ (source {_counts(expected)}; copied {_counts(copied)}; "
                             f"destination {_counts(landed)}); nothing was kept.")
    return copied


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in counts.items())
