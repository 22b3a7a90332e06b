"""External jobs through the poller and the external healer: kept once, classified by the real model,
healed through the registry (rerun, relaunch one rung up, update workers), followed to the outcome."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_healer.core.healer import Healer
from airflow_healer.core.types import ErrorType, IncidentStatus, Outcome
from airflow_healer.gcp.heal import ExternalHealer, external_key
from airflow_healer.gcp.jobs import FAILED, RUNNING, SUCCEEDED, ExternalJob, PollQuotaExceeded
from airflow_healer.gcp.poller import ExternalPoller, poll_status

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
OOM = ("Workflow failed. Causes: S05:Read+Transform failed. ResourceExhausted: Container worker exceeded memory "
       "limit 3.75GiB, killed by the kernel OOM killer")
RATE = ("429 Exceeded rate limits: too many table update operations for this table. Quota exceeded: Your project "
        "exceeded quota for concurrent queries. rateLimitExceeded")
IAM = ("Access Denied: Table analytics:sales.orders: Permission bigquery.tables.getData denied on table "
       "analytics:sales.orders (or it may not exist). User does not have permission. accessDenied 403 Forbidden")


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")


def job(job_id, *, job_type="dataflow", name="nightly-orders", status=FAILED, minutes_ago=2.0, error="",
        **details) -> ExternalJob:
    state = {FAILED: "JOB_STATE_FAILED", SUCCEEDED: "JOB_STATE_DONE", RUNNING: "JOB_STATE_RUNNING"}[status]
    return ExternalJob(job_type=job_type, job_id=job_id, job_name=name, status=status, state=state,
                       project="analytics", location="us-central1", changed_at=at(minutes_ago),
                       start_time=at(minutes_ago + 10), end_time=None if status == RUNNING else at(minutes_ago),
                       error_message=error, details={"job_kind": "batch", **details})


class Source:
    """A JobSource over a list: what a service would answer."""

    def __init__(self, job_type="dataflow", jobs=(), *, quota_after=None):
        self.job_type, self.project, self.location = job_type, "analytics", "us-central1"
        self.jobs = list(jobs)
        self.asked: list[str] = []
        self.quota_after = quota_after

    def changed_since(self, since):
        self.asked.append(since)
        for n, j in enumerate(j for j in self.jobs if j.changed_at > since):
            if self.quota_after is not None and n >= self.quota_after:
                raise PollQuotaExceeded("429 Quota exceeded for quota metric 'List requests'")
            yield j

    def get(self, job_id):
        return next(j for j in self.jobs if j.job_id == job_id)


class Actions:
    """Records what the healer asked Google Cloud to do; each call starts a job named for it."""

    def __init__(self, fail=None):
        self.calls: list[tuple] = []
        self.fail = fail

    def _start(self, *call):
        if self.fail:
            raise self.fail
        self.calls.append(call)
        return f"{call[1].job_id.split('-healer-')[0]}-healer-{len(self.calls)}"

    def relaunch_dataflow(self, job, rule, environment, *, attempt):
        return self._start("relaunch", job, rule["template"], environment, attempt)

    def rerun_bigquery(self, job, *, attempt):
        return self._start("rerun_bigquery", job, attempt)

    def rerun_workflow(self, job):
        return self._start("rerun_workflow", job)

    def update_dataflow_workers(self, job, *, min_workers, max_workers):
        self.calls.append(("update", job, min_workers, max_workers))


RULE = {"nightly-*": {"template": "gs://analytics-templates/nightly", "parameters": {"day": "2026-12-01"},
                      "ladder": [{"machine_type": "n1-standard-2"}, {"machine_type": "n1-highmem-4"},
                                 {"machine_type": "n1-highmem-8"}]}}


@pytest.fixture
def healer(config, store):
    return Healer(config.replace(external_heal="nightly-*,orders-*", dataflow_relaunch=json.dumps(RULE)),
                  store=store)


def poll(healer, *sources, actions=None, slept=None):
    external = ExternalHealer(healer, actions=actions or Actions(), now=lambda: NOW,
                              sleep=(slept if slept is not None else []).append)
    return ExternalPoller(healer, sources, external=external, now=lambda: NOW).cycle()


def test_a_failed_job_is_kept_once_and_becomes_one_classified_incident(healer, store):
    source = Source(jobs=[job("2026-12-01_01", error=OOM), job("2026-12-01_02", status=SUCCEEDED, name="other")])
    healer = Healer(healer.config.replace(external_heal=""), store=store)
    first = poll(healer, source)
    second = poll(healer, source)  # the same jobs again (the overlap): updated, never duplicated
    assert (first.jobs, first.failed, len(first.incidents)) == (2, 1, 1)
    assert second.incidents == [] and second.started == []
    rows = {r["job_id"]: r for r in store.list_pipeline_jobs()}
    assert set(rows) == {"2026-12-01_01", "2026-12-01_02"}
    failed = rows["2026-12-01_01"]
    assert failed["status"] == "failed" and failed["duration_seconds"] == 600.0
    incident = store.get_incident(failed["incident_id"])
    assert (incident.dag_id, incident.run_id, incident.task_id) == external_key(job("2026-12-01_01"))
    assert incident.dag_id == "external:dataflow" and incident.operator == "DataflowJob"
    assert incident.error_type is ErrorType.RESOURCE_EXHAUSTION
    assert failed["error_type"] == incident.error_type.value
    assert "OOM killer" in incident.message and len(incident.failures) == 1
    assert "does not name nightly-orders" in incident.reason and incident.actions == []


def test_the_watermark_moves_to_the_newest_change_and_the_next_poll_asks_from_it(healer, store):
    source = Source(jobs=[job("a", status=SUCCEEDED, minutes_ago=30), job("b", status=SUCCEEDED, minutes_ago=3)])
    poll(healer, source)
    assert source.asked[0] == (NOW - timedelta(days=1, seconds=60)).isoformat(timespec="milliseconds")
    poll(healer, source)
    assert source.asked[1] == (NOW - timedelta(minutes=4)).isoformat(timespec="milliseconds")
    assert poll_status(store)[0]["watermark"] == at(3)


def test_a_quota_limited_source_keeps_its_watermark_and_the_others_still_poll(healer, store):
    limited = Source(jobs=[job("a", status=SUCCEEDED, minutes_ago=9), job("b", status=SUCCEEDED, minutes_ago=8)],
                     quota_after=1)
    other = Source("bigquery", [job("analytics:US.q1", job_type="bigquery", status=SUCCEEDED, name="q1")])
    report = poll(healer, limited, other)
    assert report.quota_limited == ["dataflow/analytics/us-central1"]
    assert {s["source"] for s in poll_status(store)} == {"bigquery/analytics/us-central1"}
    assert store.get_pipeline_job("analytics:US.q1")["status"] == "succeeded"
    assert "quota-limited (next cycle)" in report.summary()


def test_an_out_of_memory_batch_job_is_relaunched_one_rung_up_and_its_success_settles_the_incident(healer, store):
    actions = Actions()
    source = Source(jobs=[job("j1", error=OOM)])
    report = poll(healer, source, actions=actions)
    assert report.started == ["j1-healer-1"]
    kind, failed, template, environment, attempt = actions.calls[0]
    assert (kind, failed.job_id, template, attempt) == ("relaunch", "j1", "gs://analytics-templates/nightly", 1)
    assert environment == {"machine_type": "n1-highmem-4"}
    incident = store.find_incident(*_key("j1"))
    assert incident.status is IncidentStatus.HEALING and incident.actions[0].strategy == "rescale"
    assert "n1-highmem-4" in incident.actions[0].detail

    source.jobs.append(job("j1-healer-1", name="nightly-orders-healer-1", status=SUCCEEDED, minutes_ago=1))
    report = poll(healer, source, actions=actions)
    assert report.settled == {"success": 1}
    incident = store.find_incident(*_key("j1"))
    assert incident.status is IncidentStatus.RECOVERED and incident.actions[0].outcome is Outcome.SUCCESS
    assert store.get_pipeline_job("j1-healer-1")["incident_id"] == incident.id


def test_a_relaunch_that_fails_again_is_the_next_try_and_climbs_again_then_stops_at_the_top(healer, store):
    actions = Actions()
    source = Source(jobs=[job("j1", error=OOM, minutes_ago=30)])
    poll(healer, source, actions=actions)
    source.jobs.append(job("j1-healer-1", error=OOM, minutes_ago=20))
    poll(healer, source, actions=actions)
    assert [c[3] for c in actions.calls] == [{"machine_type": "n1-highmem-4"}, {"machine_type": "n1-highmem-8"}]
    incident = store.find_incident(*_key("j1"))
    assert [f.try_number for f in incident.failures] == [1, 2]
    assert incident.actions[0].outcome is Outcome.FAILED
    source.jobs.append(job("j1-healer-2", error=OOM, minutes_ago=10))
    poll(healer, source, actions=actions)
    incident = store.find_incident(*_key("j1"))
    assert len(actions.calls) == 2, "at the ladder's top nothing is relaunched"
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "ceiling is reached (environment={'machine_type': 'n1-highmem-8'})" in incident.reason


def test_a_rate_limited_bigquery_job_is_rerun_and_a_second_healer_does_not_rerun_it_again(healer, store):
    failed = job("analytics:US.q1", job_type="bigquery", name="orders-daily", error=RATE)
    actions, slept = Actions(), []
    healer = Healer(healer.config.replace(retry_backoff_seconds=60), store=store)
    poll(healer, Source("bigquery", [failed]), actions=actions, slept=slept)
    # It failed 2 minutes ago; a rate limit with no named wait waits 4 x the backoff: the rest of 240 s, capped.
    assert slept == [120.0]
    # Another machine's poller, with its own (empty) view, sees the same failed job.
    store.upsert_pipeline_job({**failed.row(), "status": "running"})
    other = Actions()
    report = poll(healer, Source("bigquery", [failed]), actions=other)
    assert [c[0] for c in actions.calls] == ["rerun_bigquery"] and other.calls == []
    assert report.started == []
    incident = store.find_incident(*_key("analytics:US.q1", "bigquery", "orders-daily"))
    assert incident.error_type is ErrorType.RATE_LIMITING and len(incident.actions) == 1


def test_a_permission_error_is_a_proposal_not_an_action(healer, store):
    actions = Actions()
    report = poll(healer, Source("bigquery", [job("analytics:US.q2", job_type="bigquery", name="orders-x",
                                                 error=IAM)]), actions=actions)
    assert actions.calls == [] and report.proposals == 1
    incident = store.find_incident(*_key("analytics:US.q2", "bigquery", "orders-x"))
    assert incident.status is IncidentStatus.ESCALATED
    proposal = store.list_proposals(status="pending")[0]
    assert proposal["strategy"] == "grant_permission" and proposal["incident_id"] == incident.id


def test_a_dataflow_job_with_no_relaunch_rule_is_not_relaunched_and_says_why(healer, store):
    actions = Actions()
    poll(healer, Source(jobs=[job("j9", name="orders-adhoc", error="Connection reset by peer: "
                                                                    "java.net.SocketTimeoutException: Read timed out")]),
         actions=actions)
    incident = store.find_incident(*_key("j9", name="orders-adhoc"))
    assert actions.calls == []
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "no [healer] dataflow_relaunch rule names orders-adhoc" in incident.reason
    assert incident.actions[0].outcome is Outcome.FAILED


def test_an_api_refusal_fails_the_action_with_what_the_api_said(healer, store):
    poll(healer, Source(jobs=[job("j2", error=OOM)]), actions=Actions(fail=RuntimeError("400 Invalid template")))
    incident = store.find_incident(*_key("j2"))
    assert incident.status is IncidentStatus.NOT_RECOVERED
    assert "RuntimeError: 400 Invalid template" in incident.actions[0].detail


def test_a_running_streaming_job_reporting_memory_errors_has_its_worker_range_raised_in_place(healer, store):
    rules = {"stream-*": {"flex_template": "gs://t/stream.json", "ladder": [
        {"min_workers": 1, "max_workers": 5}, {"min_workers": 2, "max_workers": 20}]}}
    healer = Healer(healer.config.replace(external_heal="stream-*", dataflow_relaunch=json.dumps(rules)),
                    store=store)
    actions = Actions()
    running = job("s1", name="stream-clicks", status=RUNNING, error=OOM, job_kind="streaming", streaming_engine=True)
    outcome = ExternalHealer(healer, actions=actions).observe(running)
    assert actions.calls[0][2:] == (2, 20)
    assert outcome.started is None
    incident = store.get_incident(outcome.incident_id)
    assert incident.status is IncidentStatus.RECOVERED and incident.actions[0].outcome is Outcome.SUCCESS


def test_observe_mode_records_and_acts_on_nothing(healer, store):
    healer = Healer(healer.config.replace(mode="observe"), store=store)
    actions = Actions()
    poll(healer, Source(jobs=[job("j3", error=OOM)]), actions=actions)
    assert actions.calls == []
    assert store.find_incident(*_key("j3")).status is IncidentStatus.OPEN


def test_a_job_with_no_error_text_says_so(healer, store):
    healer = Healer(healer.config.replace(external_heal=""), store=store)
    poll(healer, Source("workflows", [job("projects/p/locations/l/workflows/w/executions/e1", job_type="workflows",
                                          name="w")]))
    incident = store.find_incident("external:workflows", "projects/p/locations/l/workflows/w/executions/e1", "w")
    assert "ended JOB_STATE_FAILED and the service gave no error message" in incident.message


def _key(job_id, job_type="dataflow", name="nightly-orders"):
    return f"external:{job_type}", job_id, name


def test_a_running_batch_job_reporting_errors_is_recorded_but_not_relaunched_while_it_runs(healer, store):
    actions = Actions()
    running = job("b1", status=RUNNING, error=OOM)
    outcome = ExternalHealer(healer, actions=actions).observe(running)
    assert actions.calls == [] and outcome.started is None
    incident = store.get_incident(outcome.incident_id)
    assert incident.status is IncidentStatus.OPEN and "still running" in incident.reason
    # When it then ends failed, the poller heals it (the per-try key was not taken by the running job).
    ended = job("b1", status=FAILED, error=OOM)
    outcome = ExternalHealer(healer, actions=actions).observe(ended)
    assert [c[0] for c in actions.calls] == ["relaunch"] and outcome.started == "b1-healer-1"


def test_a_streaming_job_climbs_once_then_waits_for_the_new_range(healer, store):
    rules = {"stream-*": {"flex_template": "gs://t/stream.json", "ladder": [
        {"max_workers": 5}, {"max_workers": 10}, {"max_workers": 20}]}}
    healer = Healer(healer.config.replace(external_heal="stream-*", dataflow_relaunch=json.dumps(rules)),
                    store=store)
    actions = Actions()
    running = job("s2", name="stream-clicks", status=RUNNING, error=OOM, job_kind="streaming", streaming_engine=True)
    ExternalHealer(healer, actions=actions).observe(running)
    outcome = ExternalHealer(healer, actions=actions).observe(running)
    assert [c[3] for c in actions.calls] == [10]
    assert "waits 10 minutes" in outcome.reason


def test_the_cli_polls_and_says_each_sources_watermark(healer, store, config, monkeypatch, capsys):
    from airflow_healer.cli import main

    assert main(["external", "poll"]) == 2
    assert "external_jobs is empty" in capsys.readouterr().err
    assert main(["external", "status"]) == 0 and "No external jobs were polled yet" in capsys.readouterr().out
    # The command polls with the real clock: the job changed two minutes before it.
    real_minutes_ago = (NOW - datetime.now(timezone.utc)).total_seconds() / 60 + 2
    source = Source("bigquery", [job("analytics:US.q9", job_type="bigquery", status=SUCCEEDED, name="q9",
                                     minutes_ago=real_minutes_ago)])
    monkeypatch.setenv("AIRFLOW__HEALER__EXTERNAL_JOBS", "bigquery")
    monkeypatch.setenv("AIRFLOW__HEALER__STORE_URL", f"sqlite:///{store.path}")
    monkeypatch.setattr("airflow_healer.gcp.sources.sources_from_config", lambda config: [source])
    assert main(["external", "poll"]) == 0
    out = capsys.readouterr().out
    assert "bigquery/analytics/us-central1: 1 changed job(s)" in out and "1 job(s) changed in 1 source(s)" in out
    assert main(["external", "status", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["source"] == "bigquery/analytics/us-central1" and row["last_cycle"]["jobs"] == 1
