"""The store tests run on every adapter: SQLite and PostgreSQL (a real server, see tests/services.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from airflow_healer.core.store.sqlite import SQLiteStore

ADAPTERS = ["sqlite", "postgresql"]


@pytest.fixture(params=ADAPTERS)
def store(request, tmp_path):
    if request.param == "sqlite":
        yield SQLiteStore(tmp_path / "healer.db")
        return
    yield request.getfixturevalue("postgres_store")


@pytest.fixture(params=ADAPTERS)
def store_url(request, tmp_path) -> str:
    """A URL of an empty store of each adapter, for tests that open it from other processes."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'healer.db'}"
    return request.getfixturevalue("postgres_url")


def run_sql(store: Any, statement: str, rows: list[tuple] | tuple = ()) -> None:
    """``statement`` (``?`` placeholders) straight on the store's database, bypassing the adapter:
    what a person with a SQL prompt, or another program, could do. ``rows``: one tuple, or many."""
    store.ledger(limit=1)  # the schema exists
    many = isinstance(rows, list)
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            (conn.executemany if many else conn.execute)(statement, rows)
        return
    import psycopg

    with psycopg.connect(store.url.replace("postgresql+psycopg", "postgresql"), autocommit=False) as conn:
        cursor = conn.cursor()
        (cursor.executemany if many else cursor.execute)(statement.replace("?", "%s"), rows)
