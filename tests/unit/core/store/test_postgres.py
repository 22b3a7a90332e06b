"""What only the PostgreSQL store has: a server that can be down, a schema that other versions share,
connections pooled per process."""

from __future__ import annotations

import time

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.store import open_store, postgres
from airflow_healer.core.store.postgres import PostgresStore
from airflow_healer.core.types import Action
from airflow_healer.exceptions import StoreSchemaError, StoreUnavailable
from tests.services import free_port


def failure(run_id="run_1", try_number=1):
    return make_failure(dag_id="etl", task_id="extract", run_id=run_id, try_number=try_number,
                        message="Read timed out", operator="PythonOperator")


def test_a_server_that_is_down_is_reported_at_once_and_nothing_hangs():
    store = PostgresStore(f"postgresql://healer@127.0.0.1:{free_port()}/healer", timeout=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot be reached.*store_url"):
        store.record_failure(failure())
    assert time.monotonic() - started < 2


def test_the_password_never_shows(postgres):
    store = open_store(f"postgresql://healer:s3cret@127.0.0.1:{free_port()}/healer")
    with pytest.raises(StoreUnavailable) as caught:
        store.list_incidents()
    assert "s3cret" not in str(caught.value) + repr(store)
    assert "***" in repr(store)


def test_an_empty_database_gets_the_schema_on_first_use(postgres_store):
    assert postgres_store.schema_version() == 0
    postgres_store.record_failure(failure())
    assert postgres_store.schema_version() == postgres.SCHEMA_VERSION
    assert [m["version"] for m in postgres_store.migrations()] == [postgres.FIRST_VERSION]


def test_an_older_schema_is_refused_until_db_upgrade_keeps_every_row(postgres_url, monkeypatch):
    old = PostgresStore(postgres_url)
    incident_id = old.record_failure(failure())
    old.add_action(incident_id, Action("retry", 1))
    old.close()
    # The next version adds a column: this process now runs it.
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", postgres.SCHEMA_VERSION + 1)
    monkeypatch.setattr(postgres, "MIGRATIONS", [(postgres.SCHEMA_VERSION,
                                                  ["ALTER TABLE incidents ADD COLUMN owner TEXT NOT NULL DEFAULT ''"])])
    new = PostgresStore(postgres_url)
    with pytest.raises(StoreSchemaError, match=r"schema version 8.*airflow-healer db upgrade"):
        new.get_incident(incident_id)
    assert new.migrate() == [postgres.SCHEMA_VERSION]
    assert new.migrate() == []
    incident = new.get_incident(incident_id)
    assert ([a.strategy for a in incident.actions], len(incident.failures)) == (["retry"], 1)
    assert [m["version"] for m in new.migrations()] == [8, 9]
    assert [e["kind"] for e in new.ledger(incident_id)] == ["failure", "action"]


def test_a_newer_schema_is_refused_with_what_to_do(postgres_store, monkeypatch):
    postgres_store.record_failure(failure())
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", postgres.SCHEMA_VERSION - 1)
    older = PostgresStore(postgres_store.url)
    with pytest.raises(StoreSchemaError, match="newer than this airflow_healer.*upgrade airflow_healer"):
        older.list_incidents()


def test_a_database_of_something_else_is_not_taken_for_a_store(postgres, postgres_url):
    postgres.psql("CREATE TABLE incidents (id int)", postgres_url.rsplit("/", 1)[1])
    with pytest.raises(StoreSchemaError, match="not a healer store"):
        PostgresStore(postgres_url).list_incidents()


def test_a_process_keeps_its_connection(postgres_store, postgres):
    for n in range(20):
        postgres_store.record_failure(failure(run_id=f"run_{n}"))
    database = postgres_store.url.rsplit("/", 1)[1]
    connections = postgres.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
                                " AND application_name = 'airflow_healer'").stdout.strip()
    assert int(connections) <= postgres_store.pool_size


def test_a_row_held_by_another_healer_times_out_as_unavailable(postgres_store):
    import psycopg

    incident_id = postgres_store.record_failure(failure())
    store = PostgresStore(postgres_store.url, timeout=1)
    with psycopg.connect(postgres_store.url.replace("postgresql+psycopg", "postgresql")) as holder:
        holder.execute("SELECT * FROM incidents WHERE id = %s FOR UPDATE", (incident_id,))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="busy"):
            store.claim(incident_id, "healer-b")
        assert time.monotonic() - started < 5
    assert store.claim(incident_id, "healer-b")


def test_text_postgresql_cannot_hold_is_replaced_not_refused(postgres_store):
    from airflow_healer.core.types import Failure

    raw = Failure(dag_id="etl", task_id="extract", run_id="run_1", try_number=1, message="a\x00b \udcff c",
                  traceback="tb\x00", source="callback")
    incident = postgres_store.get_incident(postgres_store.record_failure(raw))
    assert (incident.message, incident.failures[0].traceback) == ("a\ufffdb ? c", "tb\ufffd")
