"""Remediation a person asks for, against an in-memory run that answers like Airflow's API."""

from __future__ import annotations

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.manual import RemediationRefused, Request, remediate
from airflow_healer.core.types import IncidentStatus, Outcome
from airflow_healer.exceptions import RunNotFound

TIMEOUT = "HTTPSConnectionPool(host='orders.example.com', port=443): Read timed out. (read timeout=30)"


class Run:
    def __init__(self, state="failed", heal=True):
        self.ti = {"task_id": "extract", "map_index": -1, "state": state, "try_number": 1, "operator": "BashOperator"}
        self.heal = heal
        self.cleared = []

    def dag_run(self, dag_id, run_id):
        if run_id != "r1":
            raise RunNotFound("not found", 404)
        return {"dag_run_id": run_id}

    def task_instances(self, dag_id, run_id):
        return [dict(self.ti)]

    def task_log(self, *args):
        raise RunNotFound("no log", 404)

    def clear(self, dag_id, run_id, task_ids, *, note="", reset_dag_runs=False):
        assert reset_dag_runs, "a finished run must be reset to queued for the cleared task to run"
        self.cleared.append((task_ids, note))
        self.ti.update(state="success" if self.heal else "failed", try_number=self.ti["try_number"] + 1)
        return [self.ti]


@pytest.fixture
def healer(config, store):
    store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r1", message=TIMEOUT))
    return Healer(config, store=store)


def ask(**kwargs):
    return Request(**{"dag_id": "etl", "run_id": "r1", "task_id": "extract", "user": "ana", **kwargs})


def test_a_dry_run_records_the_plan_and_changes_nothing(healer, store):
    run = Run()
    result = remediate(healer, run, ask(), sleep=lambda s: None)
    assert (result.verdict, result.strategy, result.outcome) == ("act", "retry", "skipped")
    assert run.cleared == []
    action = store.find_incident("etl", "r1", "extract").actions[-1]
    assert action.outcome is Outcome.SKIPPED and "by ana" in action.detail and "dry run: would" in action.detail


def test_a_remediation_clears_waits_and_records_the_outcome_and_who(healer, store):
    run = Run()
    result = remediate(healer, run, ask(dry_run=False, reason="partner back"), sleep=lambda s: None)
    assert result.outcome == "success" and len(run.cleared) == 1
    assert "by ana: partner back" in run.cleared[0][1]
    incident = store.find_incident("etl", "r1", "extract")
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("retry", Outcome.SUCCESS)]


def test_a_retry_that_fails_again_is_recorded_failed(healer, store):
    result = remediate(healer, Run(heal=False), ask(dry_run=False), sleep=lambda s: None)
    assert result.outcome == "failed"
    assert store.find_incident("etl", "r1", "extract").status is IncidentStatus.NOT_RECOVERED


@pytest.mark.parametrize("request_kwargs, run, says", [
    ({"run_id": "nope"}, Run(), "has no run 'nope'"),
    ({"task_id": "load"}, Run(), "has no task 'load'"),
    ({}, Run(state="success"), "is success: only a failed task"),
])
def test_requests_that_cannot_be_carried_out_say_why(healer, request_kwargs, run, says):
    with pytest.raises(RemediationRefused, match=says):
        remediate(healer, run, ask(dry_run=False, **request_kwargs), sleep=lambda s: None)


def test_a_bad_strategy_or_a_missing_name_is_refused_before_anything_runs():
    with pytest.raises(RemediationRefused, match="not one of auto, retry"):
        ask(strategy="reboot")
    with pytest.raises(RemediationRefused, match="task_id is required"):
        ask(task_id=" ")


def test_a_person_may_choose_the_strategy_but_not_skip_its_guardrails(healer, store):
    result = remediate(healer, Run(), ask(strategy="rescale", dry_run=False), sleep=lambda s: None)
    # No ladder was declared: the rescale becomes a proposal naming where to put one; nothing is cleared.
    assert (result.verdict, result.strategy, result.outcome) == ("propose", "rescale", "skipped")
    assert "healer.tier(" in result.plan


def test_the_same_failed_try_is_never_acted_on_twice_at_once(healer, store):
    incident = store.find_incident("etl", "r1", "extract")
    assert store.claim(incident.id, "another-healer")
    with pytest.raises(RemediationRefused, match="Another healer is acting"):
        remediate(healer, Run(), ask(dry_run=False), sleep=lambda s: None)


def test_a_try_is_remediated_once_whoever_asks_first(healer, store):
    assert store.act_once("etl", "r1", "extract", -1, 1, actor="healer:etl:r1", strategy="retry")
    run = Run()
    with pytest.raises(RemediationRefused, match="acted on already by healer:etl:r1"):
        remediate(healer, run, ask(dry_run=False), sleep=lambda s: None)
    assert run.cleared == []
    # The refusal released the incident: the next try can be remediated.
    assert store.claim(store.find_incident("etl", "r1", "extract").id, "someone-else")


def test_without_waiting_the_result_is_pending_and_concluded_later(healer, store):
    from airflow_healer.core.remediate.manual import check_outcome, conclude

    run = Run()
    request = ask(dry_run=False)
    result = remediate(healer, run, request, wait=False)
    assert result.outcome == "pending" and result.acted["cleared_try"] == 1 and len(run.cleared) == 1
    outcome, detail = check_outcome(run, request, 1)
    assert (outcome, detail) == (Outcome.SUCCESS, "try 2 success")
    conclude(healer, result, outcome, detail)
    incident = store.find_incident("etl", "r1", "extract")
    assert incident.status is IncidentStatus.RECOVERED and incident.actions[-1].outcome is Outcome.SUCCESS
    assert store.claim(incident.id, "someone-else")  # released


def proposal_for(store, status):
    incident = store.find_incident("etl", "r1", "extract")
    proposal = store.add_proposal(incident, "grant_permission", "grant roles/bigquery.dataViewer to etl@", 3600)
    if status != "pending":
        store.decide_proposal(proposal["id"], status == "approved", "ana", "granted")
    return proposal["id"]


@pytest.mark.parametrize("status, says", [("pending", "not approved: approve it first"),
                                          ("rejected", "is rejected, not approved")])
def test_a_proposal_that_is_not_approved_is_not_applied(healer, store, status, says):
    from airflow_healer.core.remediate.manual import apply_proposal

    run = Run()
    with pytest.raises(RemediationRefused, match=says):
        apply_proposal(healer, run, proposal_for(store, status), user="bob", sleep=lambda s: None)
    with pytest.raises(RemediationRefused, match="No proposal 'nope'"):
        apply_proposal(healer, run, "nope")
    assert run.cleared == []


def test_an_approved_proposal_is_applied_once_and_its_task_retried(healer, store):
    from airflow_healer.core.remediate.manual import apply_proposal

    run = Run()
    proposal_id = proposal_for(store, "approved")
    request, result = apply_proposal(healer, run, proposal_id, user="bob", sleep=lambda s: None)
    assert (request.task_id, result.strategy, result.outcome) == ("extract", "grant_permission", "success")
    action = store.find_incident("etl", "r1", "extract").actions[-1]
    assert action.strategy == "grant_permission" and "approved by ana) by bob" in action.detail
    run.ti.update(state="failed")  # it failed again: that new try may be acted on, once
    run.heal = False
    request, again = apply_proposal(healer, run, proposal_id, user="bob", sleep=lambda s: None)
    assert again.outcome == "failed" and len(run.cleared) == 2


def test_an_approved_proposal_about_a_job_outside_airflow_says_what_to_do_and_clears_nothing(healer, store):
    from airflow_healer.core.remediate.manual import apply_proposal

    incident_id = store.record_failure(make_failure(dag_id="external:bigquery", task_id="orders-daily",
                                                    run_id="analytics:US.q1", message="Access Denied"))
    proposal = store.add_proposal(store.get_incident(incident_id), "grant_permission", "grant roles/bigquery.dataViewer",
                                  3600)
    store.decide_proposal(proposal["id"], True, "ana", "granted")
    run = Run()
    with pytest.raises(RemediationRefused, match="about a bigquery job outside Airflow .*rerun the job where it runs"):
        apply_proposal(healer, run, proposal["id"], user="bob")
    assert run.cleared == []
