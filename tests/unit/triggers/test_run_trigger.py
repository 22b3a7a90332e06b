"""The healer task's trigger against a real HTTP server on loopback that answers like Airflow's API."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.triggers.run import HealerRunTrigger
from tests.unit.triggers.loopback import LoopbackApi


class FakeRun(LoopbackApi):
    """GET .../taskInstances of one run; each poll answers the next script entry (the last one repeats)."""

    def __init__(self):
        self.script: list[list[dict]] = []
        self.status = 200
        super().__init__(self._answer)

    def _answer(self, path, query):
        if self.status != 200:
            return self.status, {"detail": "down"}
        tis = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return 200, {"task_instances": tis, "total_entries": len(tis)}


@pytest.fixture
def fake(monkeypatch):
    server = FakeRun()
    monkeypatch.setenv("AIRFLOW_CONN_HEALER_API", json.dumps(
        {"conn_type": "http", "host": server.url, "login": "healer", "password": "pw"}))
    yield server
    server.close()


def ti(task_id, state, try_number=1, map_index=-1):
    return {"task_id": task_id, "map_index": map_index, "state": state, "try_number": try_number}


def trigger(wait, **kwargs):
    return HealerRunTrigger(airflow_api_conn_id="healer_api", dag_id="etl", run_id="manual__2026-12-02",
                            own_task_ids=["healer"], wait={"until": None, "failed": [], "pending": [],
                                                           "all_terminal": False, "proposals": [], **wait},
                            poll_interval=0.05, **kwargs)


def first_event(t):
    async def go():
        async for event in t.run():
            return event.payload
    return asyncio.run(asyncio.wait_for(go(), 30))


def test_it_serializes_to_its_path_and_kwargs():
    path, kwargs = trigger({"failed": [["a", -1, 1]]}, store_url="sqlite:///x.db").serialize()
    assert path == "airflow_healer.triggers.run.HealerRunTrigger"
    assert HealerRunTrigger(**kwargs).serialize() == (path, kwargs)
    json.dumps(kwargs)


def test_a_cleared_task_that_finishes_wakes_the_healer_but_its_clearing_does_not(fake):
    fake.script = [[ti("extract", None, 2), ti("load", None), ti("healer", "running")],
                   [ti("extract", "running", 2), ti("load", None), ti("healer", "running")],
                   [ti("extract", "success", 2), ti("load", None), ti("healer", "running")]]
    event = first_event(trigger({"pending": [["extract", -1, 1]]}))
    assert event == {"status": "changed", "why": "extract try 2 ended success"}
    assert len(fake.paths) == 3
    assert (fake.paths[0], fake.queries[0]) == ("/api/v2/dags/etl/dagRuns/manual__2026-12-02/taskInstances",
                                                "limit=100&offset=0")


def test_a_new_failure_wakes_it_and_a_known_one_does_not():
    t = trigger({"failed": [["extract", -1, 1]]})
    assert t.changed([ti("extract", "failed", 1), ti("load", "running")]) == ""
    assert t.changed([ti("extract", "failed", 1), ti("load", "failed")]) == "load try 1 failed"
    assert t.changed([ti("extract", "failed", 1), ti("load", "failed", map_index=3)]) == "load[3] try 1 failed"
    # The healer's own task never wakes it.
    assert t.changed([ti("extract", "failed", 1), ti("load", "running"), ti("healer", "failed")]) == ""


def test_a_clear_that_did_not_take_does_not_wake_it_in_a_loop():
    t = trigger({"pending": [["extract", -1, 1]]})
    assert t.changed([ti("extract", "failed", 1), ti("load", "running")]) == ""
    assert t.changed([ti("extract", "failed", 2), ti("load", "running")]) == "extract try 2 failed"


def test_the_run_finishing_wakes_it_once():
    assert trigger({}).changed([ti("a", "success"), ti("b", "skipped")]) == "every task of the run has finished"
    assert trigger({"all_terminal": True}).changed([ti("a", "success"), ti("b", "skipped")]) == ""


def test_a_deadline_fires_due(fake):
    fake.script = [[ti("extract", "failed")]]
    began = time.monotonic()
    event = first_event(trigger({"failed": [["extract", -1, 1]], "all_terminal": True,
                                  "until": time.time() + 0.3}))
    assert event == {"status": "due"} and time.monotonic() - began >= 0.25


def test_a_decision_from_the_command_line_wakes_it(fake, store):
    fake.script = [[ti("extract", "failed")]]
    store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="manual__2026-12-02", try_number=1,
                                      message="403 Permission 'bigquery.tables.getData' denied"))
    incident = store.list_incidents()[0]
    proposal = store.add_proposal(incident, "grant_permission", "grant roles/bigquery.dataViewer", 3600)
    t = trigger({"failed": [["extract", -1, 1]], "all_terminal": True, "proposals": [proposal["id"]]},
                store_url=f"sqlite:///{store.path}")
    threading.Timer(0.3, lambda: store.decide_proposal(proposal["id"], True, "ana")).start()
    assert first_event(t) == {"status": "decided", "proposals": [proposal["id"]]}


def test_an_api_that_keeps_failing_hands_back_with_the_reason(fake):
    fake.status = 503
    event = first_event(trigger({}))
    assert event["status"] == "error" and "failed 10 times in a row" in event["message"]


def test_it_looks_again_after_max_wait(fake):
    fake.script = [[ti("extract", "running")]]
    assert first_event(trigger({}, max_wait=0.2)) == {"status": "timeout"}


def test_an_operator_watching_one_task_of_another_run_ignores_the_rest():
    t = trigger({"pending": [["extract", -1, 2]], "only_pending": True, "all_terminal": True})
    assert t.changed([ti("extract", None, 2), ti("other", "failed"), ti("load", "upstream_failed")]) == ""
    assert t.changed([ti("extract", "success", 3), ti("other", "failed")]) == "extract try 3 ended success"
