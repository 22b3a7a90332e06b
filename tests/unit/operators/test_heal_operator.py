"""The healer task's Airflow side: what it asks in Required Actions and how it reads the answers."""

from __future__ import annotations

import pytest

from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.run import RunHealer
from airflow_healer.operators.heal import HealOperator
from tests.unit.core.remediate.test_run import permission_run


@pytest.fixture
def asked(monkeypatch):
    calls = []
    import airflow.sdk.execution_time.hitl as hitl

    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **kwargs: calls.append(kwargs))
    return calls


def test_a_proposal_is_asked_in_required_actions_with_its_content(config, store, asked):
    told = []
    op = HealOperator(task_id="healer", notifiers=[told.append, lambda context: 1 / 0])
    op._asked = False
    run = permission_run(store)
    ti = type("TI", (), {"id": "0193a1b2-0000-7000-8000-000000000001"})()
    rh = RunHealer(Healer(config, store=store), run, dag_id="etl", run_id="run", own_task_ids={"healer"},
                   ask_people=lambda proposals: op._ask_people({"task_instance": ti}, proposals))
    wait = rh.step()
    [call] = asked
    assert call["ti_id"] == ti.id and call["options"] == ["Approve", "Reject"] and call["defaults"] == ["Reject"]
    assert call["params"] == {} and call["multiple"] is False  # the API refuses params=None (422)
    assert "extract" in call["subject"] and wait.proposals[0] in call["body"]
    assert op._asked
    assert len(told) == 1  # the HITL notifiers were told (a failing one changes nothing)


@pytest.mark.parametrize("event, decided", [
    ({"chosen_options": ["Approve"], "responded_by_user": {"id": "7", "name": "ana"}, "timedout": False},
     ("approved", "ana")),
    ({"chosen_options": ["Reject"], "responded_by_user": {"id": "7", "name": "bob"}, "timedout": False},
     ("rejected", "bob")),
    ({"chosen_options": ["Reject"], "responded_by_user": None, "timedout": True}, ("pending", None)),
])
def test_an_answer_in_required_actions_decides_the_proposals_it_waits_for(config, store, event, decided):
    run = permission_run(store)
    rh = RunHealer(Healer(config, store=store), run, dag_id="etl", run_id="run", own_task_ids={"healer"})
    wait = rh.step()
    HealOperator(task_id="healer")._on_event(rh, event)
    proposal = store.get_proposal(wait.proposals[0])
    assert (proposal["status"], proposal["decided_by"]) == decided


def test_a_later_try_of_the_healer_resumes_what_an_earlier_one_left(config, store):
    op, healer = HealOperator(task_id="healer"), Healer(config, store=store)
    dag = type("Dag", (), {"dag_id": "etl"})()

    def context(try_number):
        return {"dag": dag, "run_id": "run", "ti": type("TI", (), {"task_id": "healer", "try_number": try_number})()}

    assert op._earlier_try(context(1), healer) == {}
    op._keep(context(1), healer, {"run": {"healed": ["a"]}, "slot_seconds": 1.5, "deferrals": 1})
    assert op._earlier_try(context(1), healer) == {}  # the same try resumes from its deferral, not from here
    assert op._earlier_try(context(2), healer) == {"run": {"healed": ["a"]}, "slot_seconds": 1.5, "deferrals": 1}
    op._keep(context(2), healer, {"done": True, "run": {"settled": [["load", -1, 1, "proposal 1 rejected"]]}})
    # Settled, then failed by Airflow after it ended: the next try knows what was decided and asks nothing again.
    assert op._earlier_try(context(3), healer) == {"run": {"settled": [["load", -1, 1, "proposal 1 rejected"]]}}
