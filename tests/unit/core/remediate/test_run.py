"""The same-run healing loop against an in-memory DAG run that behaves like Airflow's."""

from __future__ import annotations

from collections import deque

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.run import RunHealer
from airflow_healer.core.types import IncidentStatus, Outcome
from airflow_healer.exceptions import AirflowApiError, RunNotFound, StoreError

TIMEOUT = "Read timed out. (read timeout=30)"


class FakeRun:
    """Tasks run when polled: each try takes the next outcome from its script; failures are captured
    by a 'callback' that writes to the store, as on_failure_callback does."""

    def __init__(self, store, scripts: dict[str, list[str]], edges: dict[str, list[str]], capture=True,
                 message=TIMEOUT, logs=None):
        self.store = store
        self.message = message
        self.logs = logs or {}  # (task_id, try_number) -> list of events; missing: 404
        self.log_reads: list[tuple[str, int]] = []
        self.scripts = {t: deque(s) for t, s in scripts.items()}
        self.edges = edges
        self.capture = capture
        self.tis = {t: {"task_id": t, "map_index": -1, "state": None, "try_number": 1} for t in scripts}
        self.cleared: list[list] = []
        self.fail_clear = False

    def upstream(self, task_id):
        return [u for u, downs in self.edges.items() if task_id in downs]

    def _step(self):
        for task_id, ti in self.tis.items():
            if ti["state"] is not None:
                continue
            ups = [self.tis[u]["state"] for u in self.upstream(task_id)]
            if any(s in ("failed", "upstream_failed") for s in ups):
                ti["state"] = "upstream_failed"
            elif all(s == "success" for s in ups):
                outcome = self.scripts[task_id].popleft() if self.scripts[task_id] else "success"
                ti["state"] = outcome
                if outcome == "failed" and self.capture:
                    self.store.record_failure(make_failure(
                        dag_id="etl", task_id=task_id, run_id="run", try_number=ti["try_number"],
                        message=self.message))

    def task_instances(self, dag_id, run_id):
        self._step()
        return [dict(ti) for ti in self.tis.values()]

    def clear(self, dag_id, run_id, task_ids, *, note=""):
        if self.fail_clear:
            raise AirflowApiError("POST clearTaskInstances failed with 403: forbidden", 403)
        self.cleared.append(task_ids)
        out = []
        for t in task_ids:
            ti = self.tis[t]
            if ti["state"] in ("failed", "upstream_failed"):
                ti["state"] = None
                ti["try_number"] += 1
                out.append(ti)
        return out

    def task_log(self, dag_id, run_id, task_id, try_number, map_index=-1):
        self.log_reads.append((task_id, try_number))
        if (task_id, try_number) not in self.logs:
            raise RunNotFound(f"GET .../{task_id}/logs/{try_number}: not found", 404)
        return self.logs[(task_id, try_number)]

    def downstream(self, task_id):
        seen, todo = set(), list(self.edges.get(task_id, []))
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(self.edges.get(t, []))
        return seen


def heal(run, config, **kwargs):
    healer = Healer(config, store=run.store)
    return RunHealer(healer, run, dag_id="etl", run_id="run", own_task_ids={"healer"},
                     downstream=run.downstream, sleep=lambda s: None, **kwargs).run()


def test_a_transient_failure_is_retried_in_the_same_run(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"], "load": []}, {"extract": ["load"]})
    report = heal(run, config)
    assert report.ok and report.healed == ["extract"]
    assert run.cleared == [["extract", "load"]]  # the task and its upstream_failed downstream
    assert {t: ti["state"] for t, ti in run.tis.items()} == {"extract": "success", "load": "success"}
    incident = store.list_incidents()[0]
    assert (incident.error_type.value, incident.status) == ("network_timeout", IncidentStatus.RECOVERED)
    assert [(a.strategy, a.attempt, a.outcome) for a in incident.actions] == [("retry", 1, Outcome.SUCCESS)]


def test_a_task_that_keeps_failing_is_given_up_after_max_attempts(config, store):
    run = FakeRun(store, {"extract": ["failed"] * 5, "load": []}, {"extract": ["load"]})
    report = heal(run, config.replace(max_attempts=2))
    assert not report.ok
    assert report.unhealed[0].startswith("extract: network_timeout: still failing after 2 retry")
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert [(a.attempt, a.outcome) for a in incident.actions] == [(1, Outcome.FAILED), (2, Outcome.FAILED)]
    assert [f.try_number for f in incident.failures] == [1, 2, 3]


def permission_run(store, then="success"):
    run = FakeRun(store, {"extract": ["failed", then]}, {},
                  message="PermissionError: [Errno 13] Permission denied: '/data/in.csv'")
    return run


def decide_on_first_poll(store, approve, note=""):
    """A person who answers the proposal while the healer waits."""
    def sleep(seconds):
        for proposal in store.list_proposals(status="pending"):
            store.decide_proposal(proposal["id"], approve, "ana", note)
    return sleep


def heal_with(run, config, sleep):
    healer = Healer(config, store=run.store)
    return RunHealer(healer, run, dag_id="etl", run_id="run", own_task_ids={"healer"},
                     downstream=run.downstream, sleep=sleep).run()


def test_a_risky_fix_waits_for_a_person_and_approved_heals_the_same_run(config, store):
    run = permission_run(store)
    report = heal_with(run, config, decide_on_first_poll(store, True, "granted roles/storage.objectViewer"))
    assert report.ok and run.cleared == [["extract"]]
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome) for a in incident.actions] == [
        ("grant_permission", Outcome.SKIPPED), ("grant_permission", Outcome.SUCCESS)]
    assert "approved by ana: granted roles/storage.objectViewer" in incident.actions[1].detail
    [proposal] = store.list_proposals()
    assert (proposal["status"], proposal["decided_by"], proposal["strategy"]) == ("approved", "ana", "grant_permission")


def test_a_rejected_proposal_ends_the_run_unhealed_with_the_reason(config, store):
    run = permission_run(store)
    report = heal_with(run, config, decide_on_first_poll(store, False, "the bucket is private on purpose"))
    assert not report.ok and run.cleared == []
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "rejected by ana: the bucket is private on purpose" in incident.reason


def test_a_proposal_nobody_answers_expires(config, store):
    import time

    run = permission_run(store)
    report = heal_with(run, config.replace(approval_timeout="1s"), lambda s: time.sleep(0.2))
    assert not report.ok
    assert "expired: no decision within [healer] approval_timeout (1s)" in store.list_incidents()[0].reason
    with pytest.raises(StoreError, match="already expired"):
        store.decide_proposal(store.list_proposals()[0]["id"], True, "ana")


def test_a_proposal_is_decided_once(config, store):
    run = permission_run(store)
    heal_with(run, config, decide_on_first_poll(store, True))
    [proposal] = store.list_proposals()
    with pytest.raises(StoreError, match="already approved by ana"):
        store.decide_proposal(proposal["id"], False, "bob")
    with pytest.raises(StoreError, match="No proposal 'nope'"):
        store.decide_proposal("nope", True, "bob")


def test_observe_mode_records_without_acting(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    report = heal(run, config.replace(mode="observe"))
    assert not report.ok and run.cleared == []
    assert store.list_incidents()[0].error_type.value == "network_timeout"


def test_a_failure_no_callback_captured_is_recorded_from_the_api(config, store):
    run = FakeRun(store, {"extract": ["failed"]}, {}, capture=False)
    report = heal(run, config, capture_grace_seconds=0)
    assert not report.ok
    incident = store.list_incidents()[0]
    assert incident.failures[0].source == "healer"
    assert incident.status is IncidentStatus.ESCALATED  # no error text: unknown, a person looks


def test_an_incident_another_healer_holds_is_left_alone(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    run._step()
    incident_id = store.list_incidents()[0].id
    assert store.claim(incident_id, "the-other-healer")
    report = heal(run, config)
    assert run.cleared == [] and not report.ok
    assert "another healer" in report.unhealed[0]


def test_a_refused_clear_is_recorded_and_the_run_stays_failed(config, store):
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})
    run.fail_clear = True
    report = heal(run, config)
    assert not report.ok and "could not clear" in report.unhealed[0]
    incident = store.list_incidents()[0]
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert incident.actions[0].outcome is Outcome.FAILED


def test_spooled_failures_are_written_before_healing(config, store):
    from airflow_healer.core.capture import Spool

    Spool(config.spool_dir).append(make_failure(dag_id="old", task_id="t", run_id="r", message="x"))
    run = FakeRun(store, {"extract": []}, {})
    assert heal(run, config).ok
    assert [i.dag_id for i in store.list_incidents()] == ["old"]


@pytest.mark.parametrize("healthy", ["success", "skipped"])
def test_a_healthy_run_needs_nothing(config, store, healthy):
    run = FakeRun(store, {"a": [healthy]}, {})
    assert heal(run, config).ok and store.list_incidents() == []


BASH_FAILED = "Bash command failed. The command returned a non-zero exit code 28."


def bash_log(cause: str) -> list[dict]:
    hook = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
    return [
        {"event": "::group::Log message source details"}, {"event": "/logs/attempt=1.log"}, {"event": "::endgroup::"},
        {"event": "DAG bundles loaded: dags-folder", "level": "info", "logger": "airflow.dag_processing"},
        {"event": "Running command: ['/usr/bin/bash', '-c', './export.sh']", "level": "info", "logger": hook},
        {"event": "Output:", "level": "info", "logger": hook},
        {"event": "starting export", "level": "info", "logger": hook},
        {"event": cause, "level": "info", "logger": hook},
        {"event": "Command exited with return code 28", "level": "info", "logger": hook},
        {"event": "Task failed with exception", "level": "error", "logger": "task", "error_detail": [
            {"exc_type": "AirflowException", "exc_value": BASH_FAILED, "is_cause": False, "frames": []}]},
    ]


def test_a_wrapper_exception_is_classified_from_the_try_log_and_healed(store, config):
    curl = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"
    run = FakeRun(store, {"extract": ["failed", "success"]}, {}, message=BASH_FAILED,
                  logs={("extract", 1): bash_log(curl)})
    report = heal(run, config)
    assert report.ok and report.healed == ["extract"]
    incident = store.find_incident("etl", "run", "extract")
    assert incident.error_type.value == "network_timeout"
    assert [line["text"] for line in incident.log_lines] == [curl]  # not the boilerplate, not the wrapper
    assert incident.failures[0].log_note == "return code 28"
    assert any(e.startswith("log line") and "curl: (28)" in e for e in incident.evidence)
    assert "Bash command failed" not in incident.log_excerpt.splitlines()[0]


def test_an_unreadable_log_degrades_to_the_exception_with_a_note(store, config):
    run = FakeRun(store, {"extract": ["failed", "success"]}, {})  # no log: the API answers 404
    report = heal(run, config)
    assert report.ok
    incident = store.find_incident("etl", "run", "extract")
    assert incident.error_type.value == "network_timeout"  # from the exception's message
    assert "the log could not be read" in incident.log_note and "404" not in incident.reason
    assert run.log_reads == [("extract", 1)]


class LadderRun(FakeRun):
    """A task that renders {{ healer.tier('memory_mb', ladder) }} and needs ``need`` MB to succeed."""

    def __init__(self, store, ladder, need):
        super().__init__(store, {"crunch": []}, {})
        self.ladder, self.need = ladder, need
        self.rendered: list[int] = []

    def _step(self):
        from types import SimpleNamespace

        from airflow_healer.macros import HealerMacros

        ti = self.tis["crunch"]
        if ti["state"] is not None:
            return
        context = {"ti": SimpleNamespace(dag_id="etl", run_id="run", task_id="crunch", map_index=-1,
                                         try_number=ti["try_number"])}
        memory = HealerMacros(self.store).tier(context, "memory_mb", self.ladder)  # as Jinja calls it
        self.rendered.append(memory)
        if memory >= self.need:
            ti["state"] = "success"
            return
        ti["state"] = "failed"
        self.store.record_failure(make_failure(
            dag_id="etl", task_id="crunch", run_id="run", try_number=ti["try_number"],
            message=f"Container crunch was OOMKilled: it exceeded its memory limit of {memory}Mi (exit code 137)"))


def test_a_resource_error_climbs_the_ladder_to_success(store, config):
    run = LadderRun(store, [256, 512, 1024], need=1024)
    report = heal(run, config.replace(max_attempts=3))
    assert report.ok and run.rendered == [256, 512, 1024]
    incident = store.find_incident("etl", "run", "crunch")
    assert incident.status is IncidentStatus.RECOVERED
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("rescale", Outcome.FAILED),
                                                                     ("rescale", Outcome.SUCCESS)]
    assert incident.actions[0].detail.startswith("memory_mb 256 -> 512")
    assert incident.actions[1].detail.startswith("memory_mb 512 -> 1024")


def test_at_the_ladders_top_the_healer_stops_and_says_so(store, config):
    run = LadderRun(store, [256, 512], need=4096)
    report = heal(run, config.replace(max_attempts=5))
    assert not report.ok and run.rendered == [256, 512]
    incident = store.find_incident("etl", "run", "crunch")
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "ceiling is reached (memory_mb=512)" in incident.reason


class AuthRun(FakeRun):
    """A task whose connection's password expired; the API's connections are a dict."""

    def __init__(self, store):
        super().__init__(store, {"query": []}, {})
        self.connections = {"warehouse": {"conn_type": "postgres", "login": "etl", "password": "old"}}
        self.updates: list[tuple[str, dict]] = []

    def _step(self):
        ti = self.tis["query"]
        if ti["state"] is not None:
            return
        if self.connections["warehouse"]["password"] == "new":
            ti["state"] = "success"
            return
        ti["state"] = "failed"
        self.store.record_failure(make_failure(
            dag_id="etl", task_id="query", run_id="run", try_number=ti["try_number"], conn_ids=["warehouse"],
            message='FATAL:  password authentication failed for user "etl"'))

    def update_connection(self, conn_id, fields):
        self.updates.append((conn_id, fields))
        self.connections[conn_id].update(fields)
        return self.connections[conn_id]


def test_an_expired_password_is_refreshed_then_the_task_retried(store, config, tmp_path):
    secret = tmp_path / "warehouse"
    secret.write_text("new\n")
    run = AuthRun(store)
    report = heal(run, config.replace(credential_sources=f'{{"warehouse": "file://{secret}"}}'))
    assert report.ok and run.updates == [("warehouse", {"password": "new"})]
    incident = store.find_incident("etl", "run", "query")
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("refresh_credentials", Outcome.SUCCESS)]
    assert "new" not in incident.actions[0].detail.split("from")[0]


def test_a_source_that_cannot_be_read_fails_the_action_with_the_reason(store, config, tmp_path):
    run = AuthRun(store)
    report = heal(run, config.replace(credential_sources=f'{{"warehouse": "file://{tmp_path / "gone"}"}}'))
    assert not report.ok and run.updates == []
    incident = store.find_incident("etl", "run", "query")
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "could not refresh the connection 'warehouse'" in incident.reason
    assert [(a.strategy, a.outcome) for a in incident.actions] == [("refresh_credentials", Outcome.FAILED)]


def test_with_no_source_configured_an_auth_failure_goes_to_a_person(store, config):
    report = heal(AuthRun(store), config)
    assert not report.ok
    incident = store.find_incident("etl", "run", "query")
    assert incident.status is IncidentStatus.ESCALATED and "nothing to refresh" in incident.reason
