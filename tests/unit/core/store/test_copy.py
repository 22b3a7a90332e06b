"""``airflow-healer db copy``: a SQLite store moves to PostgreSQL (and back) without losing a row."""

from __future__ import annotations

import pytest

from airflow_healer.cli import main
from airflow_healer.core.capture import make_failure
from airflow_healer.core.store.copy import TABLES, copy_store
from airflow_healer.core.store.postgres import PostgresStore
from airflow_healer.core.store.sqlite import SQLiteStore
from airflow_healer.core.types import Action, Classification, ErrorType, IncidentStatus, Outcome
from airflow_healer.exceptions import StoreError


def fill(store, runs: int = 30) -> None:
    """Something in every table, as a season of healing leaves it."""
    for n in range(runs):
        failure = make_failure(dag_id=f"dag{n % 3}", task_id="extract", run_id=f"run_{n}", try_number=1,
                               message=f"Read timed out {n}", operator="PythonOperator")
        incident_id = store.record_failure(failure)
        store.record_failure(make_failure(dag_id=f"dag{n % 3}", task_id="extract", run_id=f"run_{n}", try_number=2,
                                          message="Connection reset"))
        store.add_log(incident_id, 2, excerpt="line 1\nline 2", lines=[{"n": 2, "text": "line 2"}])
        store.set_classification(incident_id, Classification(ErrorType.NETWORK_TIMEOUT, 0.9, evidence=["timed out"]))
        action = store.add_action(incident_id, Action("retry", 1, detail="cleared"))
        store.finish_action(action, Outcome.SUCCESS, "try 3 success")
        store.set_status(incident_id, IncidentStatus.RECOVERED)
        store.act_once(f"dag{n % 3}", f"run_{n}", "extract", -1, 2, actor="healer", strategy="retry")
        store.record_tier(f"dag{n % 3}", f"run_{n}", "extract", -1, 2, "memory", ["1Gi", "2Gi"], 1)
        if n % 10 == 0:
            store.add_proposal(store.get_incident(incident_id), "rescale", "memory 2Gi -> 4Gi", 600,
                               content={"to": "4Gi"})
    store.put_knowledge([{"id": "kb-1", "kind": "runbook", "title": "timeouts"}])
    store.record_knowledge_outcome({"id": "kb-1"}, True)
    store.put_blob("model/v1", b"\x00\x01\xffweights", {"f1": 0.91})
    store.upsert_pipeline_job({"job_id": "bq_1", "job_type": "bigquery", "status": "failed", "error_message": "x"})


def snapshot(store) -> dict:
    """Everything a store answers, comparable across adapters."""
    incidents = sorted((i.as_dict() for i in store.list_incidents(limit=1000)), key=lambda i: i["id"])
    return {"incidents": incidents, "ledger": store.ledger(limit=100_000),
            "proposals": store.list_proposals(limit=100), "knowledge": store.list_knowledge(),
            "blob": store.get_blob("model/v1"), "blobs": store.list_blobs(), "jobs": store.list_pipeline_jobs(),
            "tiers": store.tiers("dag1", "run_1", "extract"), "acted": store.acted_by("dag1", "run_1", "extract", -1, 2),
            "analytics": _rounded(store.analytics(days=3))}


def _rounded(analytics: dict) -> dict:
    """Times to recovery to a tenth of a second: each database averages in floating point its own way,
    so the third decimal of a mean that ends in 5 may round either way."""
    recovery = analytics["recovery"]
    for key in ("mean_seconds", "median_seconds"):
        recovery[key] = round(recovery[key], 1) if recovery[key] is not None else None
    return analytics


def test_sqlite_to_postgresql_and_back_keeps_every_row(tmp_path, postgres_store):
    source = SQLiteStore(tmp_path / "healer.db")
    fill(source)
    before = snapshot(source)
    copied = copy_store(source, postgres_store, batch=7)  # batches smaller than a table: the keyset walks on
    assert copied["incidents"] == 30 and copied["ledger"] == len(before["ledger"])
    assert set(copied) == set(TABLES)
    assert snapshot(postgres_store) == before
    # Ids go on after the copied ones: the next action and ledger entry do not collide.
    incident = postgres_store.list_incidents(limit=1)[0]
    new_action = postgres_store.add_action(incident.id, Action("retry", 2))
    assert new_action > max(a.id for i in postgres_store.list_incidents(limit=100) for a in i.actions if a.id != new_action)
    assert postgres_store.ledger(limit=1)[-1]["seq"] > before["ledger"][-1]["seq"]

    back = SQLiteStore(tmp_path / "back.db")
    copy_store(postgres_store, back)
    assert snapshot(back)["incidents"] == snapshot(postgres_store)["incidents"]


def test_a_destination_with_rows_is_refused_and_left_alone(tmp_path, postgres_store):
    source = SQLiteStore(tmp_path / "healer.db")
    fill(source, runs=3)
    postgres_store.put_blob("mine", b"keep me")
    with pytest.raises(StoreError, match=r"not empty \(.*blobs 1"):
        copy_store(source, postgres_store)
    assert [b["name"] for b in postgres_store.list_blobs()] == ["mine"]
    assert postgres_store.list_incidents() == []


def test_a_copy_that_fails_halfway_leaves_the_destination_empty(tmp_path, postgres_store):
    source = SQLiteStore(tmp_path / "healer.db")
    fill(source, runs=5)
    source.put_blob("big", b"x" * 10, {"bad": "\x00"})  # JSON text, fine; the failure below is the point
    with postgres_store._tx() as conn:  # a destination that refuses one table's rows
        conn.raw("ALTER TABLE blobs ADD CONSTRAINT no_big CHECK (name <> 'big')")
    with pytest.raises(StoreError, match="no_big"):
        copy_store(source, postgres_store)
    assert postgres_store.list_incidents() == [] and postgres_store.ledger() == []


def test_the_command_copies_and_says_what_to_do_next(tmp_path, postgres_url, capsys):
    source = SQLiteStore(tmp_path / "healer.db")
    fill(source, runs=4)
    assert main(["db", "copy", f"sqlite:///{source.path}", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "incidents 4" in out and "Point [healer] store_url at the destination" in out
    assert len(PostgresStore(postgres_url).list_incidents()) == 4
    assert main(["db", "copy", f"sqlite:///{source.path}", postgres_url]) == 2
    assert "not empty" in capsys.readouterr().err


def test_db_check_and_upgrade_on_a_new_and_a_current_store(postgres_url, capsys):
    assert main(["--store-url", postgres_url, "db", "check"]) == 1
    assert "Run `airflow-healer db upgrade` to have it created" in capsys.readouterr().err
    assert main(["--store-url", postgres_url, "db", "upgrade"]) == 0
    assert "schema none -> 8" in capsys.readouterr().out
    assert main(["--store-url", postgres_url, "db", "upgrade"]) == 0
    assert "schema 8 is current; nothing to do" in capsys.readouterr().out
    assert main(["--store-url", postgres_url, "db", "check"]) == 0
    assert "version 8: applied" in capsys.readouterr().out


def test_a_store_that_cannot_be_copied_says_which_to_copy(tmp_path):
    from airflow_healer.gcp.bigquery_store import BigQueryStore

    source = SQLiteStore(tmp_path / "healer.db")
    target = BigQueryStore("my-project", "healer", coordination=SQLiteStore(tmp_path / "coordination.db"))
    with pytest.raises(StoreError, match="copy its coordination store"):
        copy_store(source, target)
