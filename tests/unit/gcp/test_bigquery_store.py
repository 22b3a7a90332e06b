"""The BigQuery store: a coordination store answers, BigQuery gets every change as rows.

The real ``google.cloud.bigquery.Client`` talks to :class:`FakeBigQuery` (its HTTP session replaced), so
these tests see the exact requests the client sends: table resources, insertAll rows and their insertIds,
query text and parameters. A real SQLiteStore in ``tmp_path`` coordinates.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import threading
import time
from datetime import datetime, timezone

import pytest
import requests

from airflow_healer.core.store import open_store
from airflow_healer.core.store.base import Store, linear_forecast
from airflow_healer.core.store.sqlite import SQLiteStore
from airflow_healer.core.types import Action, Classification, ErrorType, Failure, IncidentStatus, Outcome
from airflow_healer.exceptions import ConfigurationError, StoreError
from airflow_healer.gcp import bigquery_sink
from airflow_healer.gcp.bigquery_store import BigQueryStore
from airflow_healer.gcp.bigquery_tables import MAX_TEXT_BYTES, TABLES, Row, cut_text, table_resource
from tests.unit.gcp.fake_bigquery import FakeBigQuery, insert_errors

PROJECT, DATASET = "healer-test", "healer_analytics"


@pytest.fixture
def fake() -> FakeBigQuery:
    return FakeBigQuery(PROJECT)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def coordination(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "coordination.db")


@pytest.fixture
def make(fake, coordination, tmp_path, sleeps):
    """BigQuery stores over one fake BigQuery; no timed flush (the tests flush), backoff sleeps recorded."""
    made: list[BigQueryStore] = []

    def make_store(**kwargs) -> BigQueryStore:
        options = {"coordination": coordination, "client": fake.client(), "flush_seconds": 3600.0,
                   "spool_dir": tmp_path / "spool", "sleep": sleeps.append, **kwargs}
        made.append(BigQueryStore(PROJECT, DATASET, **options))
        return made[-1]

    yield make_store
    for store in made:
        store.close()


@pytest.fixture
def store(make) -> BigQueryStore:
    return make()


def failure(task_id: str = "extract", try_number: int = 1, message: str = "Connection reset by peer",
            run_id: str = "scheduled__2026-12-01T00:00:00+00:00", **kwargs) -> Failure:
    return Failure(dag_id="etl", task_id=task_id, run_id=run_id, try_number=try_number, message=message,
                   exception_type="ConnectionError", started_at="2026-12-01T10:00:00+00:00",
                   failed_at="2026-12-01T10:00:42.500+00:00", hostname="worker-1", **kwargs)


def body_rows(request) -> list[dict]:
    return [r["json"] for r in request.body["rows"]]


def insert_ids(request) -> list[str]:
    return [r["insertId"] for r in request.body["rows"]]


# -- tables ------------------------------------------------------------------------------------------


def test_the_dataset_and_tables_are_created_at_first_flush_partitioned_by_day_and_clustered(store, fake):
    store.record_failure(failure())
    assert fake.calls("tables.insert") == []  # nothing waits on BigQuery before the flush
    assert store.flush() > 0

    [dataset] = fake.calls("datasets.insert")
    assert dataset.body["datasetReference"] == {"projectId": PROJECT, "datasetId": DATASET}
    created = {r.body["tableReference"]["tableId"]: r.body for r in fake.calls("tables.insert")}
    layout = {name: (b["timePartitioning"], b["clustering"]["fields"], b["labels"]) for name, b in created.items()}
    assert layout == {
        "pipeline_jobs": ({"type": "DAY", "field": "start_time"}, ["job_type", "status"], {"healer_schema_version": "1"}),
        "remediation_actions": ({"type": "DAY", "field": "execution_time"}, ["strategy", "error_type"],
                                {"healer_schema_version": "1"}),
        "incidents": ({"type": "DAY", "field": "created_at"}, ["dag_id", "status"], {"healer_schema_version": "1"}),
        "ledger": ({"type": "DAY", "field": "at"}, ["kind", "incident_id"], {"healer_schema_version": "1"}),
        "knowledge": ({"type": "DAY", "field": "updated_at"}, ["error_type"], {"healer_schema_version": "1"}),
    }
    jobs = {f["name"]: (f["type"], f["mode"]) for f in created["pipeline_jobs"]["schema"]["fields"]}
    assert {k: jobs[k] for k in ("job_id", "job_type", "start_time", "end_time", "duration_seconds", "error_type",
                                 "updated_at")} == {
        "job_id": ("STRING", "REQUIRED"), "job_type": ("STRING", "REQUIRED"), "start_time": ("TIMESTAMP", "NULLABLE"),
        "end_time": ("TIMESTAMP", "NULLABLE"), "duration_seconds": ("FLOAT64", "NULLABLE"),
        "error_type": ("STRING", "NULLABLE"), "updated_at": ("TIMESTAMP", "REQUIRED")}
    actions = {f["name"]: f["type"] for f in created["remediation_actions"]["schema"]["fields"]}
    assert actions["success"] == "BOOL" and actions["execution_time"] == "TIMESTAMP"

    store.record_failure(failure(try_number=2))
    store.flush()
    assert len(fake.calls("tables.insert")) == 5  # once a process


def test_a_second_process_finds_the_tables_there_and_tolerates_409(make, fake):
    first = make()
    first.record_failure(failure())
    first.flush()
    other = make()
    other.record_failure(failure(try_number=2, message="Connection reset again"))
    other.flush()
    routes = [r.route for r in fake.requests if r.route in ("datasets.insert", "tables.insert", "tables.get")]
    assert routes.count("datasets.insert") == 2 and routes.count("tables.insert") == 10
    assert routes.count("tables.get") == 5  # each 409 is read back, to see whether columns are missing
    assert fake.calls("tables.patch") == []  # same version: nothing to add
    assert [i["last_try_number"] for i in fake.table_rows("incidents")] == [1, 2]


# -- rows --------------------------------------------------------------------------------------------


def test_a_failed_try_becomes_an_incident_version_a_job_row_and_its_ledger_entry(store, fake, coordination):
    incident_id = store.record_failure(failure())
    store.flush()

    [job] = fake.table_rows("pipeline_jobs")
    assert job["job_id"] == "etl/scheduled__2026-12-01T00:00:00+00:00/extract/-1/1"
    assert (job["job_name"], job["job_type"], job["status"], job["incident_id"]) == (
        "etl.extract", "airflow_task", "failed", incident_id)
    assert (job["start_time"], job["end_time"], job["duration_seconds"]) == (
        "2026-12-01T10:00:00.000+00:00", "2026-12-01T10:00:42.500+00:00", 42.5)
    assert job["error_message"] == "Connection reset by peer" and job["error_type"] is None
    [incident] = fake.table_rows("incidents")
    stored = coordination.get_incident(incident_id)
    assert (incident["incident_id"], incident["status"], incident["created_at"], incident["updated_at"]) == (
        incident_id, "open", stored.created_at, stored.updated_at)
    [entry] = fake.table_rows("ledger")
    [mirrored] = coordination.ledger(incident_id)
    assert (entry["seq"], entry["kind"], entry["incident_id"]) == (mirrored["seq"], "failure", incident_id)
    assert json.loads(entry["payload"]) == mirrored["payload"]


def test_classification_and_status_append_versions_and_actions_carry_their_outcome(store, fake, coordination):
    incident_id = store.record_failure(failure())
    store.set_classification(incident_id, Classification(ErrorType.NETWORK_TIMEOUT, 0.91, evidence=["reset"]))
    action_id = store.add_action(incident_id, Action("retry", 1))
    assert store.finish_action(action_id, Outcome.SUCCESS, "cleared", only_pending=True)
    assert not store.finish_action(action_id, Outcome.FAILED, "late", only_pending=True)
    store.set_status(incident_id, IncidentStatus.RECOVERED, "the retry succeeded")
    store.flush()

    jobs = fake.table_rows("pipeline_jobs")
    assert [j["error_type"] for j in jobs] == [None, "network_timeout"]
    assert len({j["job_id"] for j in jobs}) == 1 and jobs[0]["updated_at"] <= jobs[1]["updated_at"]
    assert [(i["status"], i["error_type"]) for i in fake.table_rows("incidents")] == [
        ("open", None), ("open", "network_timeout"), ("recovered", "network_timeout")]
    actions = fake.table_rows("remediation_actions")
    assert [(a["action_id"], a["strategy"], a["outcome"], a["success"], a["error_type"]) for a in actions] == [
        (action_id, "retry", "pending", None, "network_timeout"), (action_id, "retry", "success", True, "network_timeout")]
    assert actions[1]["finished_at"] is not None and actions[1]["duration_seconds"] >= 0
    # Versions written within the same millisecond still order: reads take the latest by these stamps.
    for table, stamp in (("incidents", "recorded_at"), ("remediation_actions", "updated_at"),
                         ("pipeline_jobs", "updated_at")):
        stamps = [r[stamp] for r in fake.table_rows(table)]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), table
    kinds = [e["kind"] for e in fake.table_rows("ledger")]
    assert kinds == ["failure", "classified", "action", "outcome", "status"]
    assert sorted(e["seq"] for e in fake.table_rows("ledger")) == [e["seq"] for e in coordination.ledger()]


def test_every_ledger_entry_the_coordination_store_appends_reaches_bigquery_once(store, fake, coordination):
    incident_id = store.record_failure(failure())
    store.add_log(incident_id, 1, excerpt="tail", lines=[{"line": 3, "text": "boom", "why": "error"}],
                  message="boom at line 3")
    store.set_classification(incident_id, Classification(ErrorType.SCHEMA_MISMATCH, 0.8))
    proposal = store.add_proposal(coordination.get_incident(incident_id), "schema_fix", "add column", 600)
    store.decide_proposal(proposal["id"], True, "ana")
    assert store.claim(incident_id, "healer-a") and not store.claim(incident_id, "healer-b")
    assert store.act_once("etl", "r", "extract", -1, 1, actor="healer-a", strategy="retry")
    assert not store.act_once("etl", "r", "extract", -1, 1, actor="healer-b", strategy="retry")
    store.finish_action(store.add_action(incident_id, Action("retry", 1)), Outcome.SUCCESS)
    store.put_blob("models/active", b"\x00model", {"version": 3})
    store.release(incident_id, "healer-a")
    store.flush()
    mirrored = fake.table_rows("ledger")
    assert sorted(e["seq"] for e in mirrored) == [e["seq"] for e in coordination.ledger()]
    assert len(fake.inserts("ledger")) == 1
    by_seq = {e["seq"]: e for e in coordination.ledger()}
    assert all(e["kind"] == by_seq[e["seq"]]["kind"] and e["incident_id"] == by_seq[e["seq"]]["incident_id"]
               for e in mirrored)
    assert store.get_blob("models/active") == b"\x00model"  # bytes stay in the coordination store


def test_a_store_opened_over_an_existing_coordination_store_sends_only_what_it_appends(make, fake, coordination):
    earlier = coordination.record_failure(failure(task_id="before"))
    coordination.set_status(earlier, IncidentStatus.RECOVERED)
    store = make()
    incident_id = store.record_failure(failure())
    store.set_status(earlier, IncidentStatus.NOT_RECOVERED)  # an older incident, changed now
    store.flush()
    sent = sorted((e["kind"], e["incident_id"]) for e in fake.table_rows("ledger"))
    assert sent == sorted([("failure", incident_id), ("status", earlier)])


def test_an_action_finished_by_another_process_is_found_through_the_ledger(make, fake, coordination, tmp_path):
    starter = make()
    incident_id = starter.record_failure(failure())
    action_id = starter.add_action(incident_id, Action("retry", 1))
    finisher = make(coordination=SQLiteStore(tmp_path / "coordination.db"))  # knows nothing of the action
    assert finisher.finish_action(action_id, Outcome.FAILED, "still failing")
    starter.flush()
    finisher.flush()
    outcomes = [(a["incident_id"], a["outcome"], a["success"]) for a in fake.table_rows("remediation_actions")]
    assert outcomes == [(incident_id, "pending", None), (incident_id, "failed", False)]


def test_a_duplicate_failure_keeps_one_row_version(store, fake):
    first = store.record_failure(failure())
    again = store.record_failure(failure())  # a callback and the watchdog
    assert first == again
    store.flush()
    [request] = fake.inserts("pipeline_jobs")
    assert len(set(insert_ids(request))) == 1 and len(request.body["rows"]) == 2  # one insertId: deduplicated
    assert len(fake.table_rows("pipeline_jobs")) == 1
    assert [e["kind"] for e in fake.table_rows("ledger")] == ["failure"]


def test_knowledge_and_polled_jobs_are_copied(store, fake):
    store.put_knowledge([{"id": "kb-1", "error_type": "network_timeout", "title": "retry"}], source="runbook.csv")
    learnt = store.record_knowledge_outcome({"id": "kb-1", "error_type": "network_timeout"}, success=True)
    store.upsert_pipeline_job({"job_id": "p:US.bq_1", "job_type": "bigquery", "status": "failed",
                               "start_time": "2026-12-01T09:00:00Z", "end_time": "2026-12-01T09:10:00Z",
                               "error_message": "quota", "project": "p", "location": "US"})
    store.flush()
    knowledge = fake.table_rows("knowledge")
    assert [(k["knowledge_id"], k["success_count"]) for k in knowledge] == [("kb-1", None), ("kb-1", 1)]
    assert json.loads(knowledge[1]["record"]) == learnt
    [job] = fake.table_rows("pipeline_jobs")
    assert (job["job_type"], job["duration_seconds"], job["start_time"]) == (
        "bigquery", 600.0, "2026-12-01T09:00:00.000+00:00")
    assert sorted(e["kind"] for e in fake.table_rows("ledger")) == ["knowledge", "knowledge"]


# -- batches, retries, the spool ---------------------------------------------------------------------


@pytest.mark.parametrize("writes,batch", [(7, 3), (6, 3), (1, 500), (10, 1)])
def test_n_writes_are_ceil_n_over_batch_insert_all_calls_a_table(make, fake, writes, batch):
    store = make(batch_size=batch)
    for n in range(writes):
        store.record_failure(failure(task_id=f"t{n}"))
    store.flush()
    for table in ("incidents", "pipeline_jobs", "ledger"):
        calls = fake.inserts(table)
        assert len(calls) == math.ceil(writes / batch), table
        assert [len(c.body["rows"]) for c in calls[:-1]] == [batch] * (len(calls) - 1)
        assert len(fake.table_rows(table)) == writes


def test_the_thread_sends_full_batches_at_once_and_the_rest_on_its_timer(make, fake):
    store = make(batch_size=4, flush_seconds=0.3)
    for n in range(5):
        store.record_failure(failure(task_id=f"t{n}"))
    deadline = time.monotonic() + 10
    while len(fake.table_rows("incidents")) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [len(c.body["rows"]) for c in fake.inserts("incidents")] == [4, 1]
    assert store.sink.pending == 0


def test_a_503_is_asked_again_with_the_same_insert_ids(store, fake, sleeps):
    store.record_failure(failure())
    fake.fail("insertAll", 503)
    store.flush()
    attempts = fake.inserts(fake.calls("insertAll")[0].path.split("/")[-2])
    assert len(attempts) == 2
    assert insert_ids(attempts[0]) == insert_ids(attempts[1]) and body_rows(attempts[0]) == body_rows(attempts[1])
    assert sleeps == [0.5]
    assert store.spooled_rows() == 0
    assert all(fake.table_rows(t) for t in ("incidents", "pipeline_jobs", "ledger"))


def test_a_dropped_connection_is_asked_again(store, fake, sleeps):
    store.record_failure(failure())
    fake.fail("insertAll", requests.exceptions.ConnectionError("reset"), 500)
    store.flush()
    assert sleeps == [0.5, 1.0]
    assert len(fake.table_rows("incidents")) == 1 and store.spooled_rows() == 0


def test_rows_bigquery_keeps_refusing_are_spooled_then_replayed_once(make, fake, sleeps, tmp_path):
    store = make(retries=2)
    incident_id = store.record_failure(failure())
    fake.fail("datasets.insert", *[503] * 3)  # BigQuery down: even the dataset cannot be made
    assert store.flush() == 0
    assert store.spooled_rows() == 3 and fake.calls("insertAll") == []
    spool = tmp_path / "spool" / "bigquery-healer-test-healer_analytics.jsonl"
    assert {json.loads(line)["table"] for line in spool.read_text().splitlines()} == {
        "incidents", "pipeline_jobs", "ledger"}

    fake.fail("insertAll", *[503] * 3)  # the dataset comes back; inserts still fail
    store.set_status(incident_id, IncidentStatus.HEALING)
    store.flush()
    # One table's batch was tried (and retried); the others were spooled without waiting.
    assert len(fake.calls("insertAll")) == 3 and fake.rows == {}
    assert store.spooled_rows() == 5  # the three replayed and the two new (incident version, ledger entry)

    spooled_ids = {(json.loads(line)["table"], json.loads(line)["row_id"]) for line in spool.read_text().splitlines()}
    assert store.flush() == 5  # replayed, nothing new
    assert store.spooled_rows() == 0 and not list(spool.parent.glob("*.replaying.*"))
    assert spooled_ids == {(table, row_id) for table, rows in fake.rows.items() for row_id in rows}
    before = len(fake.calls("insertAll"))
    assert store.flush() == 0 and len(fake.calls("insertAll")) == before  # none sent twice
    assert [i["status"] for i in fake.table_rows("incidents")] == ["open", "healing"]
    # A persistent failure backs off 0.5, 1 s before it spools.
    assert sleeps[:2] == [0.5, 1.0]


def test_a_spool_left_by_a_process_that_died_is_replayed(make, fake, tmp_path):
    spool = tmp_path / "spool" / "bigquery-healer-test-healer_analytics.jsonl"
    spool.parent.mkdir()
    row = Row.of("ledger", {"seq": 99, "at": "2026-12-01T00:00:00.000+00:00", "kind": "status",
                               "incident_id": "x", "payload": "{}", "recorded_at": "2026-12-01T00:00:00.000+00:00"})
    dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    spool.with_name(f"{spool.name}.replaying.{dead.pid}.1").write_bytes(row.line("died") + b"not json\n")
    store = make()
    assert store.flush() == 1
    assert fake.rows["ledger"] == {row.row_id: row.row}
    assert b"not json" in spool.with_name(spool.name.replace(".jsonl", ".unreadable.jsonl")).read_bytes()


def test_an_invalid_row_is_rejected_for_good_and_the_rows_it_stopped_are_sent(store, fake, tmp_path):
    store.put_knowledge([{"id": "a"}, {"id": "b"}, {"id": "c"}])
    fake.fail("insertAll", insert_errors((0, "stopped"), (1, "invalid"), (2, "stopped")))
    store.flush()
    first, second = fake.inserts("knowledge")
    assert [r["knowledge_id"] for r in body_rows(second)] == ["a", "c"]
    assert insert_ids(second) == [insert_ids(first)[0], insert_ids(first)[2]]
    [rejected] = (tmp_path / "spool").glob("*.rejected.jsonl")
    line = json.loads(rejected.read_text())
    assert line["row"]["knowledge_id"] == "b" and "invalid" in line["reason"]
    assert store.spooled_rows() == 0


def test_huge_and_binary_messages_are_cut_and_escaped_before_the_row_is_built(store, fake):
    message = "Traceback: \x00\x1b[31m binary \U0001f4a5 " + "é" * 200_000 + " end"
    store.record_failure(failure(message=message, traceback="x" * 5_000_000))
    store.flush()
    [request] = fake.inserts("incidents")
    assert len(request.body["rows"][0]["json"]["traceback"].encode()) <= MAX_TEXT_BYTES
    [job] = fake.table_rows("pipeline_jobs")
    text = job["error_message"]
    assert len(text.encode("utf-8")) <= MAX_TEXT_BYTES
    assert text.startswith("Traceback: \x00\x1b[31m binary \U0001f4a5 éé") and text.endswith(
        f"[{len(message.encode()) - MAX_TEXT_BYTES} more bytes cut]")
    json.dumps(request.body, ensure_ascii=False).encode("utf-8")  # what the client sent is valid UTF-8


@pytest.mark.parametrize("value,expected", [
    (b"\xff\xfeok", "\\xff\\xfeok"),  # bytes that are not UTF-8
    ("log \udcff\udcfe read with surrogateescape", "log \\udcff\\udcfe read with surrogateescape"),
    ("short", "short"), (None, None), (42, "42"),
])
def test_text_that_bigquery_would_refuse_is_escaped(value, expected):
    assert cut_text(value) == expected


def test_a_cut_never_splits_a_character():
    text = cut_text("é" * 100, limit=51)
    assert text.encode("utf-8").decode("utf-8") == text and len(text.encode()) <= 51


def test_a_request_stays_under_bigquerys_size_limit(make, fake, monkeypatch):
    monkeypatch.setattr(bigquery_sink, "MAX_REQUEST_BYTES", 300_000)
    store = make(batch_size=500)
    for n in range(6):
        store.record_failure(failure(task_id=f"t{n}", message="m" * 60_000, traceback="t" * 60_000))
    store.flush()
    sizes = [len(json.dumps(c.body)) for c in fake.inserts("incidents")]
    assert len(sizes) > 1 and max(sizes) < 300_000 + 1000
    assert len(fake.table_rows("incidents")) == 6


def test_no_write_fails_or_waits_when_bigquery_cannot_be_reached(store, fake, coordination, sleeps):
    fake.fail("datasets.insert", *[requests.exceptions.ConnectionError("no route to bigquery")] * 4)
    started = time.perf_counter()
    incident_id = store.record_failure(failure())
    store.set_status(incident_id, IncidentStatus.HEALING)
    assert time.perf_counter() - started < 1.0
    assert coordination.get_incident(incident_id).status is IncidentStatus.HEALING
    # incident, try and ledger rows of the failure; incident and ledger rows of the status
    assert store.flush() == 0 and store.spooled_rows() == 5
    assert sleeps == [0.5, 1.0, 2.0] and fake.calls("insertAll") == []


def test_once_bigquery_is_unreachable_the_rest_of_a_flush_is_spooled_without_waiting(store, fake, sleeps):
    store.record_failure(failure())  # rows for three tables
    fake.fail("insertAll", *[503] * 4)
    store.flush()
    assert len(fake.calls("insertAll")) == 4 and sleeps == [0.5, 1.0, 2.0]  # one table's batch, not three
    assert store.spooled_rows() == 3


# -- two healers, one coordination store ---------------------------------------------------------------


def _heal(store: BigQueryStore, incident_id: str, owner: str, start: threading.Barrier, won: list[str]) -> None:
    start.wait()
    if store.claim(incident_id, owner, lease_seconds=60) and store.act_once(
            "etl", "scheduled__2026-12-01T00:00:00+00:00", "extract", -1, 1, actor=owner, strategy="retry"):
        store.add_action(incident_id, Action("retry", 1, detail=f"by {owner}"))
        won.append(owner)


@pytest.mark.parametrize("round_", range(5))
def test_two_healers_racing_for_one_failed_try_act_once_and_bigquery_gets_one_action(make, fake, tmp_path, round_):
    path = tmp_path / "coordination.db"
    healers = [make(coordination=SQLiteStore(path)), make(coordination=SQLiteStore(path))]
    incident_id = healers[0].record_failure(failure())
    start, won = threading.Barrier(2), []
    threads = [threading.Thread(target=_heal, args=(h, incident_id, f"healer-{n}", start, won))
               for n, h in enumerate(healers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for h in healers:
        h.flush()
    assert len(won) == 1
    [row] = fake.table_rows("remediation_actions")
    assert row["detail"] == f"by {won[0]}" and row["incident_id"] == incident_id
    kinds = sorted(e["kind"] for e in fake.table_rows("ledger"))
    assert kinds == ["act_once", "action", "claimed", "failure"]


def _racer(path: str, incident_id: str, owner: str, requests_file: str, start) -> None:
    fake = FakeBigQuery(PROJECT)
    store = BigQueryStore(PROJECT, DATASET, coordination=SQLiteStore(path), client=fake.client(), flush_seconds=3600,
                          spool_dir=str(requests_file) + ".spool")
    won: list[str] = []
    _heal(store, incident_id, owner, start, won)
    store.flush()
    with open(requests_file, "w") as fh:
        json.dump({"won": won, "actions": fake.table_rows("remediation_actions")}, fh)


def test_two_healer_processes_racing_act_once_and_bigquery_gets_one_action(tmp_path):
    path = tmp_path / "coordination.db"
    incident_id = SQLiteStore(path).record_failure(failure())
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    outs = [tmp_path / f"healer-{n}.json" for n in range(2)]
    procs = [context.Process(target=_racer, args=(str(path), incident_id, f"healer-{n}", str(out), start))
             for n, out in enumerate(outs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    results = [json.loads(out.read_text()) for out in outs]
    assert sorted(len(r["won"]) for r in results) == [0, 1]
    assert [len(r["actions"]) for r in results] == [len(r["won"]) for r in results]
    assert SQLiteStore(path).acted_by("etl", "scheduled__2026-12-01T00:00:00+00:00", "extract", -1, 1) in (
        "healer-0", "healer-1")


# -- analytics ----------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=timezone.utc)


def answer_analytics(fake: FakeBigQuery) -> None:
    fake.answer("GENERATE_DATE_ARRAY", [("date", "STRING"), ("count", "INT64")],
                [("2026-11-30", 2), ("2026-12-01", 0), ("2026-12-02", 4)])
    fake.answer("GROUP BY error_type", [("error_type", "STRING"), ("count", "INT64")],
                [("network_timeout", 4), (None, 2)])
    fake.answer("GROUP BY strategy", [("strategy", "STRING"), ("success", "INT64"), ("failed", "INT64"),
                                      ("total", "INT64"), ("success_rate", "FLOAT64")],
                [("retry", 3, 1, 5, 0.75), ("rescale", 0, 0, 1, None)])
    fake.answer("PERCENTILE_CONT", [("count", "INT64"), ("mean_seconds", "FLOAT64"), ("median_seconds", "FLOAT64")],
                [(3, 140.5, 95.25)])
    fake.answer("GROUP BY dag_id, task_id", [("dag_id", "STRING"), ("task_id", "STRING"), ("count", "INT64")],
                [("etl", "extract", 5), ("etl", "load", 1)])
    fake.answer("GROUP BY dag_id ", [("dag_id", "STRING"), ("count", "INT64")], [("etl", 6)])


def test_analytics_has_the_sqlite_stores_shape_from_bigquerys_answers(store, fake, coordination):
    answer_analytics(fake)
    got = store.analytics(days=3, now=NOW)
    assert got == {
        "days": 3, "since": "2026-11-30", "until": "2026-12-03", "total": 6,
        "daily": [{"date": "2026-11-30", "count": 2}, {"date": "2026-12-01", "count": 0},
                  {"date": "2026-12-02", "count": 4}],
        "error_types": [{"error_type": "network_timeout", "count": 4}, {"error_type": None, "count": 2}],
        "strategies": [{"strategy": "retry", "success": 3, "failed": 1, "total": 5, "success_rate": 0.75},
                       {"strategy": "rescale", "success": 0, "failed": 0, "total": 1, "success_rate": None}],
        "recovery": {"count": 3, "mean_seconds": 140.5, "median_seconds": 95.25, "median_of": 3},
        "top_dags": [{"dag_id": "etl", "count": 6}],
        "top_tasks": [{"dag_id": "etl", "task_id": "extract", "count": 5}, {"dag_id": "etl", "task_id": "load",
                                                                           "count": 1}],
        "forecast": [{"date": f"2026-12-{d:02d}", "count": c} for d, c in
                     zip(range(3, 10), linear_forecast([2, 0, 4]), strict=True)],
    }
    assert set(got) == set(coordination.analytics(days=3, now=NOW))  # the same keys as the SQLite store's
    assert set(got["recovery"]) == set(coordination.analytics(days=3, now=NOW)["recovery"])
    # Six jobs, all started before the first is waited on.
    routes = [r.route for r in fake.requests]
    assert routes[:6] == ["jobs.insert"] * 6 and len(fake.queries()) == 6


def test_analytics_queries_take_their_values_as_parameters_and_read_latest_versions(store, fake):
    answer_analytics(fake)
    store.analytics(days=3, now=NOW)
    by_part = {q["query"].split(" FROM ")[0]: q for q in fake.queries()}
    for query in fake.queries():
        params = {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in
                  query["queryParameters"]}
        assert params["since"] == ("TIMESTAMP", "2026-11-30 00:00:00+00:00")
        assert params["until"] == ("TIMESTAMP", "2026-12-03 00:00:00+00:00")
        assert "2026-11-30" not in query["query"] and query["useLegacySql"] is False
        assert f"`{PROJECT}.{DATASET}." in query["query"]
    types = next(q for q in fake.queries() if "GROUP BY error_type" in q["query"])["query"]
    assert ("QUALIFY ROW_NUMBER() OVER (PARTITION BY incident_id ORDER BY updated_at DESC, recorded_at DESC) = 1"
            in types)
    strategies = next(q for q in fake.queries() if "GROUP BY strategy" in q["query"])["query"]
    assert "PARTITION BY action_id ORDER BY updated_at DESC" in strategies
    assert "execution_time >= @since AND execution_time < @until" in strategies
    recovery = next(q for q in fake.queries() if "PERCENTILE_CONT" in q["query"])
    assert {"name": "recovered", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "recovered"}} in \
        recovery["queryParameters"]
    tasks = next(q for q in fake.queries() if "GROUP BY dag_id, task_id" in q["query"])
    assert {"name": "limit", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "10"}} in \
        tasks["queryParameters"]
    assert len(by_part) >= 5


@pytest.mark.parametrize("method,kwargs,match,expected", [
    ("trend_per_day", {}, "GENERATE_DATE_ARRAY",
     [{"date": "2026-11-30", "count": 2}, {"date": "2026-12-01", "count": 0}, {"date": "2026-12-02", "count": 4}]),
    ("distribution_per_type", {}, "GROUP BY error_type",
     [{"error_type": "network_timeout", "count": 4}, {"error_type": None, "count": 2}]),
    ("success_rate_per_strategy", {}, "GROUP BY strategy",
     [{"strategy": "retry", "success": 3, "failed": 1, "total": 5, "success_rate": 0.75},
      {"strategy": "rescale", "success": 0, "failed": 0, "total": 1, "success_rate": None}]),
    ("mean_time_to_recovery", {}, "PERCENTILE_CONT",
     {"count": 3, "mean_seconds": 140.5, "median_seconds": 95.25, "median_of": 3}),
    ("top_failing_tasks", {"limit": 2}, "GROUP BY dag_id, task_id",
     [{"dag_id": "etl", "task_id": "extract", "count": 5}, {"dag_id": "etl", "task_id": "load", "count": 1}]),
])
def test_each_trend_is_one_query(store, fake, method, kwargs, match, expected):
    answer_analytics(fake)
    assert getattr(store, method)(days=3, now=NOW, **kwargs) == expected
    [query] = fake.queries()
    assert match in query["query"]
    if "limit" in kwargs:
        assert {"name": "limit", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "2"}} in \
            query["queryParameters"]


def test_a_failed_query_says_what_to_check(store, fake):
    with pytest.raises(StoreError, match="db upgrade"):
        store.trend_per_day(days=3, now=NOW)  # the fake has no answer: BigQuery's 400


# -- schema versions ------------------------------------------------------------------------------------


def test_migrate_adds_the_columns_an_older_table_lacks(store, fake):
    old = table_resource(PROJECT, DATASET, TABLES["pipeline_jobs"])
    old["schema"]["fields"] = [f for f in old["schema"]["fields"] if f["name"] not in ("try_number", "error_type")]
    old["labels"] = {}
    fake.datasets[DATASET] = {"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}}
    fake.tables[f"{DATASET}.pipeline_jobs"] = {**old, "etag": "v0"}
    assert store.schema_version() == 0  # pipeline_jobs unlabelled, the others missing

    report = store.migrate()
    assert report["added"] == {"pipeline_jobs": ["error_type", "try_number"]}
    assert sorted(report["created"]) == ["incidents", "knowledge", "ledger", "remediation_actions"]
    [patch] = fake.calls("tables.patch")
    fields = patch.body["schema"]["fields"]
    assert [f["name"] for f in fields[-2:]] == ["error_type", "try_number"]
    assert all(f["mode"] == "NULLABLE" for f in fields[-2:]) and fields[0]["name"] == "job_id"
    assert patch.body["labels"] == {"healer_schema_version": "1"}
    assert store.schema_version() == 1
    assert store.migrate()["added"] == {} and len(fake.calls("tables.patch")) == 1


def test_the_sink_adds_missing_columns_before_it_writes(store, fake):
    old = table_resource(PROJECT, DATASET, TABLES["incidents"])
    old["schema"]["fields"] = old["schema"]["fields"][:-3]
    fake.datasets[DATASET] = {"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}}
    fake.tables[f"{DATASET}.incidents"] = old
    store.record_failure(failure())
    store.flush()
    [patch] = fake.calls("tables.patch")
    assert [f["name"] for f in patch.body["schema"]["fields"][-3:]] == ["reason", "log_note", "recorded_at"]
    order = [(r.route, r.path.split("/")[-2] if r.route == "insertAll" else "") for r in fake.requests]
    assert order.index(("tables.patch", "")) < order.index(("insertAll", "incidents"))
    assert len(fake.table_rows("incidents")) == 1


def test_a_table_of_a_newer_version_is_left_alone(store, fake):
    newer = table_resource(PROJECT, DATASET, TABLES["ledger"])
    newer["labels"] = {"healer_schema_version": "7"}
    newer["schema"]["fields"].append({"name": "added_later", "type": "STRING", "mode": "NULLABLE"})
    fake.datasets[DATASET] = {"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}}
    fake.tables[f"{DATASET}.ledger"] = newer
    store.migrate()
    assert fake.calls("tables.patch") == []


# -- from the URL -----------------------------------------------------------------------------------------


def test_open_store_makes_a_bigquery_store_over_the_url_encoded_coordination_store(tmp_path):
    from urllib.parse import quote

    coordination = f"sqlite:///{tmp_path / 'c.db'}"
    url = f"bigquery://{PROJECT}/{DATASET}?coordination={quote(coordination, safe='')}&location=EU&batch_size=50"
    store = open_store(url)
    assert isinstance(store, BigQueryStore) and isinstance(store, Store)
    assert (store.project, store.dataset, store.location, store.sink.batch_size) == (PROJECT, DATASET, "EU", 50)
    assert isinstance(store.coordination, SQLiteStore) and store.coordination.path == tmp_path / "c.db"
    assert store.sink.spool.path.parent == tmp_path  # beside the coordination file
    assert open_store(url) is store


@pytest.mark.parametrize("url,says", [
    (f"bigquery://{PROJECT}/{DATASET}", "no coordination store.*coordination=.*PostgreSQL"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=", "no coordination store"),
    (f"bigquery://{PROJECT}?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db", "names no project and dataset"),
    (f"bigquery:///{DATASET}?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db", "names no project and dataset"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=postgresql://h/db?sslmode=require&x=1", "unknown option.*x"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=bigquery%3A%2F%2Fp%2Fd", "cannot be BigQuery"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db&batch_size=lots", "batch_size"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db&batch_size=0", "1 to 10000"),
    (f"bigquery://Bad_Project/{DATASET}?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db", "not a project id"),
    (f"bigquery://{PROJECT}/bad-dataset?coordination=sqlite%3A%2F%2F%2F%2Ftmp%2Fc.db", "letters, digits"),
    (f"bigquery://{PROJECT}/{DATASET}?coordination=redis%3A%2F%2Fh", "redis scheme is not supported"),
])
def test_a_bigquery_url_that_cannot_work_says_what_to_write(url, says):
    with pytest.raises(ConfigurationError, match=says):
        open_store(url)


def test_opening_a_bigquery_store_loads_no_google_cloud(tmp_path):
    from tests.unit.test_imports import loaded_after

    url = f"bigquery://{PROJECT}/{DATASET}?coordination=sqlite%3A%2F%2F%2F{tmp_path}%2Fc.db"
    new = loaded_after(f"from airflow_healer.core.store import open_store\nopen_store({url!r})")
    assert "airflow_healer.gcp.bigquery_store" in new
    assert not {m for m in new if m.startswith(("google.cloud", "airflow."))}


# -- optional: the analytics' SQL run by a BigQuery emulator -------------------------------------------------


@pytest.mark.skipif(not os.environ.get("HEALER_BQEMULATOR_HOST"), reason=(
    "set HEALER_BQEMULATOR_HOST=http://127.0.0.1:9050 to a running bqemulator (see tests/unit/gcp/bqemulator_offline.py)"))
def test_analytics_from_bigquery_equal_the_coordination_stores_on_an_emulator(monkeypatch, coordination, tmp_path):
    import uuid

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", os.environ["HEALER_BQEMULATOR_HOST"])
    store = BigQueryStore(PROJECT, f"healer_{uuid.uuid4().hex[:8]}", coordination=coordination, flush_seconds=3600,
                          spool_dir=tmp_path, retries=1)
    for n in range(6):
        incident_id = store.record_failure(failure(task_id=f"t{n % 2}", run_id=f"r{n}", message=f"boom {n}"))
        store.set_classification(incident_id, Classification(
            ErrorType.NETWORK_TIMEOUT if n < 3 else ErrorType.SCHEMA_MISMATCH, 0.9))
        if n == 5:
            continue  # never acted on: no action, still open
        action_id = store.add_action(incident_id, Action("retry" if n % 2 else "rescale", 1))
        store.finish_action(action_id, Outcome.SUCCESS if n < 3 else Outcome.FAILED)
        store.set_status(incident_id, IncidentStatus.RECOVERED if n < 3 else IncidentStatus.NOT_RECOVERED)
    assert store.flush() > 0 and store.spooled_rows() == 0
    now = datetime.now(timezone.utc)
    assert store.analytics(days=7, now=now) == coordination.analytics(days=7, now=now)
    assert store.schema_version() == 1
    store.close()
