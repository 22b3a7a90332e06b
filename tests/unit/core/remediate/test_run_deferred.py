"""The healing loop one step at a time, its state carried between steps as a deferred task carries it."""

from __future__ import annotations

import json

from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.run import RunHealer, RunReport, Wait
from airflow_healer.core.types import IncidentStatus, Outcome
from tests.unit.core.remediate.test_run import FakeRun, permission_run


def resumed(run, config, state, **kwargs):
    """A RunHealer built afresh, as the task is on every resume (another process)."""
    healer = Healer(config, store=run.store)
    rh = RunHealer(healer, run, dag_id="etl", run_id="run", own_task_ids={"healer"}, downstream=run.downstream,
                   sleep=lambda s: None, **kwargs)
    return rh.restore(json.loads(json.dumps(state))) if state else rh


def step_through(run, config, *, between=lambda wait: None, max_steps=50, **kwargs):
    state, waits = None, []
    for _ in range(max_steps):
        rh = resumed(run, config, state, **kwargs)
        outcome = rh.step()
        if isinstance(outcome, RunReport):
            return outcome, waits
        waits.append(outcome)
        between(outcome)
        state = rh.dump()
    raise AssertionError(f"not done after {max_steps} steps: {waits[-3:]}")


def test_a_retry_heals_across_resumes_with_the_state_in_json(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"], "load": []}, {"extract": ["load"]})
    report, waits = step_through(run, config)
    assert report.ok and report.healed == ["extract"]
    assert run.cleared == [["extract", "load"]]
    # After the clear the healer waits for the cleared try, not for a deadline.
    assert any(w.pending == [["extract", -1, 1]] and w.until is None for w in waits)
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("retry", Outcome.SUCCESS)]


def test_a_backoff_is_a_deadline_to_wait_for(config, store):
    clock = [1_000.0]
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    healer = Healer(config.replace(retry_backoff_seconds=40.0, retry_backoff_max_seconds=40.0), store=store)
    rh = RunHealer(healer, run, dag_id="etl", run_id="run", own_task_ids={"healer"}, clock=lambda: clock[0])
    wait = rh.step()
    assert isinstance(wait, Wait) and 1_020.0 <= wait.until <= 1_040.0  # equal jitter: half fixed, half random
    assert wait.failed == [["extract", -1, 1]] and wait.pending == [] and not wait.only_people
    assert run.cleared == []
    clock[0] = wait.until
    assert isinstance(rh.step(), Wait) and run.cleared == [["extract"]]


def test_waiting_for_a_person_alone_is_said_so_and_the_expiry_is_the_deadline(config, store):
    asked = []
    run = permission_run(store)
    rh = resumed(run, config, None, ask_people=asked.append)
    wait = rh.step()
    assert isinstance(wait, Wait) and wait.only_people and len(wait.proposals) == 1
    proposal = store.get_proposal(wait.proposals[0])
    assert proposal["waiter"] == "healer" and proposal["content"]["kind"] == "grant_permission"
    assert asked == [[proposal]]
    assert wait.until is not None and abs(wait.until - _epoch(proposal["expires_at"])) < 1


def test_an_answer_in_required_actions_decides_the_proposal_and_the_run_heals(config, store):
    run = permission_run(store)
    rh = resumed(run, config, None)
    wait = rh.step()
    rh = resumed(run, config, rh.dump())
    assert rh.record_decision(True, "ana", "in Airflow's Required Actions") == wait.proposals
    assert rh.record_decision(True, "bob") == []  # decided once
    outcome = rh.step()
    while not isinstance(outcome, RunReport):
        outcome = rh.step()
    assert outcome.ok and run.cleared == [["extract"]]
    assert store.get_proposal(wait.proposals[0])["decided_by"] == "ana"


def test_a_try_is_acted_on_once_even_by_two_healers(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    assert store.act_once("etl", "run", "extract", -1, 1, actor="healer_remediate:ana", strategy="retry")
    report, _ = step_through(run, config)
    assert not report.ok and run.cleared == []
    assert "acted on already by healer_remediate:ana" in report.unhealed[0]


def _epoch(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_a_healed_try_settles_its_action_once_whoever_sees_it_first(config, store):
    from airflow_healer.core.remediate.run import record_recovery

    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    healer = Healer(config, store=store)

    def callback_first(wait):
        if wait.pending:  # the cleared try runs, succeeds, and its success callback fires
            run.task_instances("etl", "run")
            assert record_recovery(healer, "etl", "run", "extract", -1, 2) == 1
            assert record_recovery(healer, "etl", "run", "extract", -1, 2) == 0  # once

    report, _ = step_through(run, config, between=callback_first)
    assert report.ok and report.healed == ["extract"]
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome, a.detail.endswith("try 2 success")) for a in incident.actions] == [
        ("retry", Outcome.SUCCESS, True)]
    [knowledge] = [k for k in store.list_knowledge() if k["id"].startswith("incident-")]
    assert (knowledge["success_count"], knowledge["failure_count"]) == (1, 0)  # learnt once, not twice


def test_the_success_callback_of_a_first_try_does_not_touch_the_store(monkeypatch):
    from airflow_healer.notifications import callback

    monkeypatch.setattr(callback.HealerConfig, "load", lambda: (_ for _ in ()).throw(AssertionError("store")))
    callback.on_success_callback({"ti": type("TI", (), {"try_number": 1})()})


DBT_OUT_OF_SYNC = (
    "Compilation Error in model orders (models/marts/orders.sql)\n"
    "  The source and target schemas on this incremental model are out of sync!\n"
    "     Source columns not in target: [<BigQueryColumn discount (FLOAT64, NULLABLE)>]\n"
    "     Target columns not in source: []\n"
    "  on table `acme-prod`.`marts`.`orders`")


def test_an_approved_additive_schema_change_is_applied_before_the_retry(config, store, mocker, monkeypatch):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.cloud import bigquery

    monkeypatch.setenv("AIRFLOW_CONN_GCP_ETL", '{"conn_type": "google_cloud_platform"}')
    table = bigquery.Table("acme-prod.marts.orders", schema=[bigquery.SchemaField("id", "INTEGER")])
    client = mocker.Mock(spec=bigquery.Client)
    client.get_table.return_value = table
    get_client = mocker.patch.object(BigQueryHook, "get_client", return_value=client)
    run = FakeRun(store, {"build_orders": ["failed", "success"]}, {}, message=DBT_OUT_OF_SYNC)
    healer = Healer(config.replace(gcp_conn_id="gcp_etl"), store=store)
    rh = RunHealer(healer, run, dag_id="etl", run_id="run", own_task_ids={"healer"})
    wait = rh.step()
    [proposal_id] = wait.proposals
    proposal = store.get_proposal(proposal_id)
    assert proposal["strategy"] == "update_schema" and proposal["content"]["apply"]["table"] == "acme-prod.marts.orders"
    assert run.cleared == [] and not client.update_table.called  # nothing before a person approves
    store.decide_proposal(proposal_id, True, "ana")
    rh.step()
    get_client.assert_called_once_with(project_id="acme-prod")
    client.get_table.assert_called_once_with("acme-prod.marts.orders")
    client.update_table.assert_called_once_with(table, ["schema"])
    assert [f.name for f in table.schema] == ["id", "discount"]
    assert run.cleared == [["build_orders"]]
    action = store.find_incident("etl", "run", "build_orders").actions[-1]
    assert "Added columns discount (FLOAT, NULLABLE) to acme-prod.marts.orders" in action.detail


def test_an_approved_change_that_fails_to_apply_is_not_retried(config, store, mocker, monkeypatch):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.api_core import exceptions as api_exceptions

    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform"}')
    client = mocker.Mock()
    client.get_table.side_effect = api_exceptions.Forbidden("bigquery.tables.update denied")
    mocker.patch.object(BigQueryHook, "get_client", return_value=client)
    run = FakeRun(store, {"build_orders": ["failed", "success"]}, {}, message=DBT_OUT_OF_SYNC)
    rh = RunHealer(Healer(config, store=store), run, dag_id="etl", run_id="run", own_task_ids={"healer"})
    store.decide_proposal(rh.step().proposals[0], True, "ana")
    outcome = rh.step()
    assert run.cleared == [] and "could not apply the approved change" in outcome.unhealed[0]
    assert "bigquery.tables.update denied" in outcome.unhealed[0]


def test_a_healer_tried_again_after_it_settled_asks_nothing_again(config, store):
    run = permission_run(store)
    rh = resumed(run, config, None)
    [proposal_id] = rh.step().proposals
    store.decide_proposal(proposal_id, False, "ana", "bucket is private")
    report = rh.step()
    assert isinstance(report, RunReport) and "rejected by ana" in report.unhealed[0]
    again = resumed(run, config, rh.dump()).step()  # Airflow failed the healer after it ended; its retry
    assert isinstance(again, RunReport) and again.unhealed == report.unhealed
    assert [p["id"] for p in store.list_proposals()] == [proposal_id]  # no second proposal
