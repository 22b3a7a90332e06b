from __future__ import annotations

import pytest

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store.sqlite import SQLiteStore


@pytest.fixture
def airflow_home(tmp_path, monkeypatch):
    """A temporary AIRFLOW_HOME with no [healer] settings from the outside world."""
    home = tmp_path / "airflow"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    import os

    for key in list(os.environ):
        if key.startswith("AIRFLOW__HEALER__"):
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def config(airflow_home) -> HealerConfig:
    return HealerConfig.load().replace(retry_backoff_seconds=0.0, poll_interval_seconds=0.0,
                                       callback_timeout_seconds=2.0)


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "healer.db")


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session (tests.services.LocalPostgres); a test takes a database of it."""
    from tests.services import LocalPostgres, postgres_bin

    if postgres_bin() is None:
        from pathlib import Path

        note = Path(__file__).resolve().parents[1] / ".venv" / ".postgresql-missing"
        pytest.skip(note.read_text().strip() if note.exists() else
                    "PostgreSQL's server programs are missing: scripts/bootstrap.sh installs Debian's postgresql.")
    with LocalPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def airflow_database(request):
    """``name -> {AIRFLOW__DATABASE__...}``: a new metadata database on the session's PostgreSQL for a test
    Airflow. Airflow's SQLite metadata database answers "database is locked" when the scheduler, the
    dag-processor, the api-server and a dozen tasks write at once (a task's state update then fails and so
    does the task), so the real Airflows of the tests keep their metadata in PostgreSQL, as deployments do.
    Without PostgreSQL's server programs they fall back to SQLite, and say so."""
    import warnings

    from tests.services import postgres_bin

    if postgres_bin() is None:
        warnings.warn("PostgreSQL's server programs are missing (scripts/bootstrap.sh installs them): the test "
                      "Airflow keeps its metadata in SQLite, which can fail tasks with 'database is locked'.",
                      stacklevel=1)
        return lambda name: {}
    server = request.getfixturevalue("postgres")

    def settings(name: str) -> dict[str, str]:
        url = server.create_database(name)
        # Airflow's async engine would be asyncpg's; psycopg 3 does async too and is what is installed.
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url}

    return settings


@pytest.fixture
def postgres_url(postgres, request):
    """The URL of a new, empty database on the session's PostgreSQL server."""
    import re

    postgres.databases = getattr(postgres, "databases", 0) + 1
    name = re.sub(r"\W", "_", request.node.name.lower())[:40] + f"_{postgres.databases}"
    return postgres.create_database(name)


@pytest.fixture
def postgres_store(postgres_url):
    from airflow_healer.core.store.postgres import PostgresStore

    store = PostgresStore(postgres_url)
    yield store
    store.close()
