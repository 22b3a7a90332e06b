import multiprocessing

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.store import open_store
from airflow_healer.core.store.sqlite import SQLiteStore
from airflow_healer.core.types import Action, Classification, ErrorType, IncidentStatus, Outcome
from airflow_healer.exceptions import ConfigurationError, StoreError
from tests.unit.core.store.conftest import run_sql


def failure(task_id="extract", try_number=1, run_id="run_1", message="Read timed out"):
    return make_failure(dag_id="etl", task_id=task_id, run_id=run_id, try_number=try_number,
                        message=message, operator="PythonOperator")


def test_tries_of_one_task_in_one_run_are_one_incident(store):
    first = store.record_failure(failure(try_number=1))
    second = store.record_failure(failure(try_number=2, message="Connection reset by peer"))
    other_run = store.record_failure(failure(run_id="run_2"))
    assert first == second != other_run
    incident = store.get_incident(first)
    assert [f.try_number for f in incident.failures] == [1, 2]
    assert (incident.last_try_number, incident.message) == (2, "Connection reset by peer")


def test_recording_the_same_try_twice_keeps_one_failure(store):
    incident_id = store.record_failure(failure())
    store.record_failure(failure())
    assert len(store.get_incident(incident_id).failures) == 1
    assert [e["kind"] for e in store.ledger(incident_id)] == ["failure"]


def test_classification_actions_and_status_round_trip(store):
    incident_id = store.record_failure(failure())
    store.set_classification(incident_id, Classification(ErrorType.NETWORK_TIMEOUT, 0.91, evidence=["timed out"]))
    action_id = store.add_action(incident_id, Action("retry", 1, detail="cleared 1"))
    store.finish_action(action_id, Outcome.SUCCESS, "try 2 success")
    store.set_status(incident_id, IncidentStatus.RECOVERED)
    incident = store.get_incident(incident_id)
    assert (incident.error_type, incident.confidence, incident.status) == (
        ErrorType.NETWORK_TIMEOUT, 0.91, IncidentStatus.RECOVERED)
    assert [(a.strategy, a.outcome, a.detail) for a in incident.actions] == [("retry", Outcome.SUCCESS, "cleared 1; try 2 success")]
    assert [e["kind"] for e in store.ledger(incident_id)] == ["failure", "classified", "action", "outcome", "status"]
    assert incident.as_dict()["actions"][0]["outcome"] == "success"


def test_the_ledger_is_append_only(store):
    store.record_failure(failure())
    statements = ["UPDATE ledger SET kind='x'", "DELETE FROM ledger"]
    if not isinstance(store, SQLiteStore):
        statements.append("TRUNCATE ledger")  # SQLite has no TRUNCATE; a DELETE without WHERE is refused above
    for statement in statements:
        with pytest.raises(Exception, match="append-only"):
            run_sql(store, statement)
    assert [e["kind"] for e in store.ledger()] == ["failure"]


def test_only_one_healer_claims_an_incident(store):
    incident_id = store.record_failure(failure())
    assert store.claim(incident_id, "healer-a")
    assert not store.claim(incident_id, "healer-b")
    assert store.claim(incident_id, "healer-a")  # the owner may renew
    store.release(incident_id, "healer-a")
    assert store.claim(incident_id, "healer-b")


def test_an_expired_lease_can_be_taken_over(store):
    incident_id = store.record_failure(failure())
    assert store.claim(incident_id, "crashed-healer", lease_seconds=-1)
    assert store.claim(incident_id, "healer-b")


def test_list_filters_and_limits(store):
    for n in range(5):
        store.record_failure(failure(task_id=f"t{n}"))
    assert len(store.list_incidents(limit=3)) == 3
    assert [i.task_id for i in store.list_incidents(dag_id="etl", status="open", limit=10)].count("t4") == 1
    assert store.list_incidents(dag_id="other") == []


def test_blobs_keep_bytes_and_metadata(store):
    store.put_blob("model/v1", b"\x00\x01binary", {"f1": 0.9})
    assert store.get_blob("model/v1") == b"\x00\x01binary"
    assert store.get_blob("model/v2") is None
    assert store.list_blobs("model/") == [
        {"name": "model/v1", "size": 8, "meta": {"f1": 0.9}, "updated_at": store.list_blobs()[0]["updated_at"]}]


def test_finishing_an_unknown_action_is_a_clear_error(store):
    with pytest.raises(StoreError, match="No action 42"):
        store.finish_action(42, Outcome.SUCCESS)


def _writer(url, worker, count):
    store = open_store(url)
    for n in range(count):
        store.record_failure(failure(task_id=f"w{worker}", try_number=n + 1))
        store.record_failure(failure(task_id=f"w{worker}-{n}"))


def test_many_processes_write_at_once_without_losing_rows(store_url):
    workers, count = 6, 25
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(store_url, w, count))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * workers
    store = open_store(store_url)
    incidents = store.list_incidents(limit=10_000)
    assert len(incidents) == workers * (count + 1)
    assert sum(len(i.failures) for i in incidents) == workers * count * 2
    assert len(store.ledger(limit=100_000)) == workers * count * 2


@pytest.mark.parametrize("url, says", [("sqlite://", "sqlite:////"), ("nonsense", "sqlite:////"),
                                       ("mysql://x/y", "postgresql\\+psycopg://"),
                                       ("postgresql://host:5432", "name the database")])
def test_unsupported_store_urls_say_what_to_write(url, says):
    with pytest.raises(ConfigurationError, match=says):
        open_store(url)


def test_an_unwritable_store_is_reported_as_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot open the healer store"):
        SQLiteStore(blocker / "healer.db").record_failure(failure())


def test_knowledge_records_are_upserted_and_listed(store):
    store.put_knowledge([{"id": "kb-1", "kind": "runbook", "title": "a"}, {"id": "kb-2", "kind": "runbook"}])
    store.put_knowledge([{"id": "kb-1", "kind": "runbook", "title": "b"}], source="test")
    assert [(r["id"], r.get("title")) for r in store.list_knowledge()] == [("kb-1", "b"), ("kb-2", None)]
    assert store.ledger()[-1]["payload"] == {"count": 1, "source": "test", "ids": ["kb-1"]}


def _learner(url, count):
    store = open_store(url)
    for n in range(count):
        store.record_knowledge_outcome({"id": "incident-abc-network_timeout", "kind": "historical_error"},
                                       success=n % 2 == 0)


def test_concurrent_learning_counts_every_outcome(store_url):
    procs = [multiprocessing.get_context("spawn").Process(target=_learner, args=(store_url, 20)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    [record] = open_store(store_url).list_knowledge()
    assert (record["success_count"], record["failure_count"]) == (40, 40)


def _racer(url, barrier, wins, name):
    store = open_store(url)
    incident_id = store.find_incident("etl", "run_1", "extract").id
    barrier.wait(30)
    acted = store.act_once("etl", "run_1", "extract", -1, 1, actor=name, strategy="retry")
    claimed = store.claim(incident_id, name)
    wins.put((name, acted, claimed))


def test_healers_racing_in_many_processes_act_once_and_one_holds_the_lease(store_url):
    """Eight healers (eight processes, as on eight machines) see the same failed try at the same moment."""
    open_store(store_url).record_failure(failure())
    context = multiprocessing.get_context("spawn")
    barrier, wins = context.Barrier(8), context.Queue()
    procs = [context.Process(target=_racer, args=(store_url, barrier, wins, f"healer-{n}")) for n in range(8)]
    for p in procs:
        p.start()
    results = [wins.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(acted for _, acted, _ in results) == 1
    assert sum(claimed for _, _, claimed in results) == 1
    [winner] = [name for name, acted, _ in results if acted]
    store = open_store(store_url)
    assert store.acted_by("etl", "run_1", "extract", -1, 1) == winner
    assert [e["kind"] for e in store.ledger()].count("act_once") == 1


def test_binary_and_huge_text_is_kept_readable(store):
    """What a task raises goes through capture (bounded, control bytes and lone surrogates replaced),
    then round-trips through every adapter exactly."""
    captured = failure(message="\x00\x01 bad bytes \udcff then " + "x" * 1_000_000 + " the end")
    assert len(captured.message) < 8_100 and "\udcff" not in captured.message
    incident_id = store.record_failure(captured)
    stored = store.get_incident(incident_id).message
    assert stored == captured.message
    assert stored.startswith("  bad bytes ? then x") and stored.endswith("x the end")
