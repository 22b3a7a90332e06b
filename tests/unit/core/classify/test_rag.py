"""The RAG classifier over the shipped model and seed knowledge, and learning from incidents."""

from __future__ import annotations

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.classify import (
    activate_model,
    get_classifier,
    import_knowledge,
    list_models,
    load_model,
    save_model,
)
from airflow_healer.core.classify.knowledge import KnowledgeEntry, KnowledgeImportError
from airflow_healer.core.classify.model import load_default
from airflow_healer.core.classify.rules import RuleClassifier
from airflow_healer.core.healer import Healer
from airflow_healer.core.types import ErrorType
from airflow_healer.exceptions import ClassifierError

# Wording no model was trained on, labelled by a team: only retrieval can know it.
ODD = "stage frobnicator-{n} halted: widget cache {h} saturated after {k} sprockets in batch {b}"


def odd(n=1, h="0x1f3a", k=9123, b="b-77"):
    return ODD.format(n=n, h=h, k=k, b=b)


def test_the_model_alone_does_not_know_the_odd_wording():
    assert load_default().classify(odd()).error_type is not ErrorType.DISK_SPACE_FULL


def test_imported_incidents_teach_the_next_classification(config, store):
    rag = get_classifier(config, store)
    before = rag.classify(odd())
    csv = ("id,kind,title,message,error_type,solution,context,strategy,source,confidence,success_count,"
           "failure_count,tags,created_at\n"
           f"team-1,historical_error,Widget cache full,\"{odd()}\",disk_space_full,Purge the widget cache,,"
           "escalate,oncall,0.9,3,0,,\n")
    report = import_knowledge(store, csv.encode(), fmt="csv")
    assert report.added == ["team-1"]
    after = get_classifier(config, store).classify(odd(n=42, h="0xbeef", k=17, b="b-9"))
    assert (before.error_type, after.error_type) != (ErrorType.DISK_SPACE_FULL, ErrorType.DISK_SPACE_FULL)
    assert after.error_type is ErrorType.DISK_SPACE_FULL
    assert after.similar[0]["id"] == "team-1" and after.similar[0]["score"] > 0.9
    assert after.strategy == "escalate"
    assert any("worked 3 of 3" in e for e in after.evidence)


def test_a_bad_knowledge_file_imports_nothing(config, store):
    bad = b"id,kind,title\n1,not_a_kind,x\n"
    with pytest.raises(KnowledgeImportError):
        import_knowledge(store, bad, fmt="csv")
    assert store.list_knowledge() == []


def test_results_explain_themselves(config, store):
    result = get_classifier(config, store).classify(
        "google.api_core.exceptions.Forbidden: 403 Access Denied: User does not have bigquery.tables.getData "
        "permission for table proj:ds.orders")
    assert result.error_type is ErrorType.PERMISSION_DENIED and result.confidence > 0.5
    assert result.classifier == "rag"
    assert any(e.startswith("term: ") for e in result.evidence)
    assert all({"id", "score", "error_type"} <= s.keys() for s in result.similar)
    assert result.strategy


def test_below_the_bar_the_answer_is_unknown(config, store):
    result = get_classifier(config.replace(min_confidence=1.0), store).classify("something went wrong")
    assert (result.error_type, result.strategy) == (ErrorType.UNKNOWN, "escalate")


def test_a_resolved_incident_is_learnt_at_once(config, store):
    healer = Healer(config, store=store)
    failure = make_failure(dag_id="etl", task_id="t", run_id="r", message=odd())
    incident = store.get_incident(store.record_failure(failure))
    incident.error_type = ErrorType.RESOURCE_EXHAUSTION
    healer.learn(incident, "retry", success=True)
    healer.learn(incident, "retry", success=True)
    [record] = [r for r in store.list_knowledge() if r["id"].startswith("incident-")]
    assert (record["success_count"], record["error_type"], record["strategy"]) == (2, "resource_exhaustion", "retry")
    again = healer.classifier.classify(odd(n=7, h="0x1", k=5, b="b-1"))
    assert again.error_type is ErrorType.RESOURCE_EXHAUSTION
    next_healer = Healer(config, store=store)  # another task, loading what was learnt from the store
    assert next_healer.classifier.classify(odd(n=8)).error_type is ErrorType.RESOURCE_EXHAUSTION


def test_a_bad_stored_knowledge_row_is_skipped_not_fatal(config, store):
    store.put_knowledge([{"id": "broken", "kind": "runbook"}])
    classifier = get_classifier(config, store)
    assert classifier.name == "rag" and "broken" not in classifier.knowledge


def test_model_versions_can_be_listed_activated_and_rolled_back(config, store):
    model = load_default()
    first = save_model(store, model)
    model.metadata_ = {**model.metadata_, "version": "v-second"}
    second = save_model(store, model)
    assert [(m["version"], m["active"]) for m in list_models(store)] == sorted(
        [(first, False), (second, True)])
    activate_model(store, first)
    assert [m["version"] for m in list_models(store) if m["active"]] == [first]
    assert load_model(config, store).metadata_["version"] == first
    with pytest.raises(ClassifierError, match="No model version 'nope'"):
        activate_model(store, "nope")


def test_an_unusable_model_file_falls_back_to_rules(config, store, tmp_path):
    broken = tmp_path / "model.bin"
    broken.write_bytes(b"not a model")
    classifier = get_classifier(config.replace(model_path=str(broken)), store)
    assert isinstance(classifier, RuleClassifier)


def test_knowledge_entries_round_trip_through_the_store(store):
    entry = KnowledgeEntry(id="x1", kind="runbook", title="t", message="m", error_type="rate_limiting",
                           solution="back off")
    store.put_knowledge([entry.to_record()])
    assert KnowledgeEntry.from_record(store.list_knowledge()[0]) == entry
