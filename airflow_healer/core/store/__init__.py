"""Incident stores: the :class:`Store` port and its adapters, chosen by URL."""

from __future__ import annotations

import functools
from urllib.parse import urlparse

from airflow_healer.core.store.base import Store
from airflow_healer.exceptions import ConfigurationError

__all__ = ["Store", "open_store"]


@functools.lru_cache(maxsize=16)
def open_store(url: str, *, timeout: float = 10.0) -> Store:
    """Return the store a ``[healer] store_url`` names (one object per URL and process).

    ``sqlite:////absolute/path.db`` is the embedded default; ``postgresql+psycopg://user:pw@host/db``
    (or ``postgresql://``) a store that many workers share; ``bigquery://PROJECT/DATASET?coordination=URL``
    answers from the (url-encoded) coordination store and copies every change to BigQuery for analytics
    (:mod:`airflow_healer.gcp.bigquery_store`).
    """
    scheme = urlparse(url).scheme.split("+")[0]
    if scheme == "sqlite":
        from airflow_healer.core.store.sqlite import SQLiteStore

        # SQLAlchemy's spelling: sqlite:////abs/path.db is absolute, sqlite:///rel.db relative.
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(f"[healer] store_url {url!r}: write sqlite:////absolute/path/healer.db.")
        return SQLiteStore(path, timeout=timeout)
    if scheme in ("postgresql", "postgres"):
        if not urlparse(url).path.strip("/"):
            raise ConfigurationError(f"[healer] store_url {url!r}: name the database, as in "
                                     "postgresql+psycopg://user:password@host:5432/healer.")
        from airflow_healer.core.store.postgres import PostgresStore

        return PostgresStore(url, timeout=timeout)
    if scheme == "bigquery":
        # Imported here: the adapter (and google.cloud, which it imports later still) costs nothing to
        # a store_url that does not name it.
        from airflow_healer.gcp.bigquery_store import store_from_url

        return store_from_url(url, timeout=timeout, open_coordination=open_store)
    raise ConfigurationError(
        f"[healer] store_url {url!r}: the {scheme or 'empty'} scheme is not supported; use "
        "sqlite:////path/to/healer.db, postgresql+psycopg://user:password@host:5432/healer or "
        "bigquery://PROJECT/DATASET?coordination=URL."
    )
