"""Incidents as Pub/Sub events: the event format, a publisher that is bounded and loses nothing, and a
consumer that stores each try once, dead-letters what it cannot read and acknowledges only what is kept.

The tests that talk to Pub/Sub run against the real emulator (see conftest.py); the others need none.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_healer.cli import main
from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.store import open_store
from airflow_healer.core.types import ErrorType, Failure
from airflow_healer.core.watchdog import Watchdog
from airflow_healer.exceptions import StoreUnavailable
from airflow_healer.gcp.pubsub import (
    INCIDENT,
    LOG_ENTRY,
    MALFORMED,
    MAX_ATTRIBUTE_BYTES,
    MAX_EVENT_BYTES,
    SCHEMA,
    consume,
    incident_event,
    parse_message,
    publish_incident,
    replay_pubsub_spool,
    spooled_events,
)
from airflow_healer.notifications.callback import capture
from tests.unit.gcp.emulator import free_port

pytestmark = pytest.mark.pubsub

RUN = "scheduled__2026-12-01T00:00:00+00:00"
TIMEOUT_MESSAGE = "HTTPSConnectionPool(host='api.example.com', port=443): Read timed out. (read timeout=30)"


def failure(try_number: int = 2, **overrides) -> Failure:
    fields = {"dag_id": "sales", "task_id": "load", "run_id": RUN, "try_number": try_number,
              "operator": "PythonOperator", "message": TIMEOUT_MESSAGE, **overrides}
    return make_failure(**fields)


def task_context(try_number: int = 1) -> dict:
    try:
        raise TimeoutError(TIMEOUT_MESSAGE)
    except TimeoutError as exc:
        error = exc
    ti = SimpleNamespace(dag_id="sales", task_id="load", run_id=RUN, map_index=-1, try_number=try_number,
                         start_date=None, hostname="worker-1")
    return {"ti": ti, "task": SimpleNamespace(task_type="PythonOperator"), "exception": error}


def log_entry(job_id: str = "2026-12-01_03_14_15-1234567890", *, text: str | None = None, json_payload=None,
              severity: object = "ERROR", resource_type: str = "dataflow_step", labels: dict | None = None) -> dict:
    entry = {
        "insertId": "abc123", "logName": "projects/analytics-prod/logs/dataflow.googleapis.com%2Fworker",
        "resource": {"type": resource_type, "labels": labels if labels is not None else {
            "job_id": job_id, "job_name": "nightly-sessions", "region": "europe-west1",
            "project_id": "analytics-prod", "step_id": "WriteToBigQuery"}},
        "severity": severity, "timestamp": "2026-12-01T03:20:00.123Z",
    }
    if text is not None:
        entry["textPayload"] = text
    if json_payload is not None:
        entry["jsonPayload"] = json_payload
    return entry


def raw(body: object) -> bytes:
    return json.dumps(body).encode()


# -- the event, without Pub/Sub ------------------------------------------------------------------------


def test_an_event_carries_the_failure_and_the_attributes_subscribers_filter_on():
    f = failure()
    data, attributes = incident_event(f, "inc-1", ErrorType.NETWORK_TIMEOUT)
    body = json.loads(data)
    assert (body["schema"], body["incident_id"], body["error_type"]) == (SCHEMA, "inc-1", "network_timeout")
    assert {name: body[name] for name in asdict(f)} == asdict(f)
    assert attributes == {"schema": SCHEMA, "event_id": f"sales/{RUN}/load/-1/2", "dag_id": "sales",
                          "task_id": "load", "error_type": "network_timeout", "fingerprint": f.fingerprint,
                          "source": "callback"}
    _, attributes = incident_event(f)
    assert attributes["error_type"] == ""


def test_attributes_are_cut_to_pubsubs_limit_and_long_ids_stay_distinct():
    stem = "é" * 700  # 1400 bytes: over the limit on its own
    first, second = (incident_event(failure(dag_id=stem + end, task_id=stem))[1] for end in ("a", "b"))
    for attributes in (first, second):
        assert all(len(value.encode()) <= MAX_ATTRIBUTE_BYTES for value in attributes.values())
    assert first["event_id"] != second["event_id"] and first["dag_id"] != second["dag_id"]


def test_an_oversized_failure_is_capped_and_still_reads_back_as_the_same_try():
    huge = Failure(dag_id="sales", task_id="load", run_id=RUN, try_number=3, message="x" * 3_000_000,
                   traceback="t" * 2_000_000, log_lines=[{"line": n, "text": "y" * 1000, "why": "tail"}
                                                          for n in range(5000)])
    data, _ = incident_event(huge)
    assert len(data) <= MAX_EVENT_BYTES and json.loads(data)["truncated"] is True
    parsed = parse_message(data)
    assert parsed.kind == INCIDENT
    assert (parsed.failure.dag_id, parsed.failure.run_id, parsed.failure.try_number) == ("sales", RUN, 3)


def test_an_event_reads_back_as_the_failure_it_was_made_of():
    f = failure(conn_ids=["warehouse"])
    parsed = parse_message(incident_event(f, "inc-1")[0])
    assert parsed.kind == INCIDENT and parsed.failure == f


def test_an_event_from_another_producer_is_redacted_and_capped_before_it_is_stored():
    body = {**json.loads(incident_event(failure())[0]), "message": "login failed password=hunter2 " + "z" * 50_000,
            "source": ""}
    parsed = parse_message(raw(body))
    assert "hunter2" not in parsed.failure.message and len(parsed.failure.message) < 10_000
    assert parsed.failure.source == "pubsub"


@pytest.mark.parametrize(("data", "reason"), [
    (b"\xff\xfe\x00\x01binary", "not UTF-8"),
    (b"Task failed: see the log", "not JSON"),
    (b"", "not JSON"),
    (b"[" * 200_000, "not JSON"),
    (b"[1, 2]", "a JSON list"),
    (b"x" * (MAX_EVENT_BYTES + 1), "more than"),
    (raw({"hello": "world"}), "neither an incident event"),
    (raw({"schema": SCHEMA, "task_id": "load", "run_id": RUN}), "dag_id is missing"),
    (raw({"schema": SCHEMA, "dag_id": "d", "task_id": "t", "run_id": "r", "try_number": "2"}), "try_number"),
    (raw({"schema": SCHEMA, "dag_id": "d", "task_id": "t", "run_id": "r", "message": ["a"]}), "message is not"),
    (raw({"schema": "airflow_healer.incident/2", "dag_id": "d", "task_id": "t", "run_id": "r"}), "this healer reads"),
    (raw(log_entry(text="boom", resource_type="gce_instance")), "resource type 'gce_instance'"),
    (raw(log_entry(text="Worker started", severity="INFO")), "severity INFO"),
    (raw(log_entry(text="boom", labels={"job_name": "x"})), "job_id"),
    (raw(log_entry()), "no textPayload"),
])
def test_what_cannot_be_read_is_malformed_with_a_reason(data, reason):
    parsed = parse_message(data)
    assert parsed.kind == MALFORMED and reason in parsed.reason


@pytest.mark.parametrize("entry", [
    log_entry(text="java.lang.OutOfMemoryError: Java heap space", severity="CRITICAL"),
    log_entry(json_payload={"message": "java.lang.OutOfMemoryError: Java heap space",
                            "exception": "Traceback: at Worker.run"}, severity=500),
])
def test_a_dataflow_error_log_entry_is_an_incident_of_the_job(entry):
    parsed = parse_message(raw(entry))
    assert parsed.kind == LOG_ENTRY
    f, job = parsed.failure, parsed.job
    assert (f.dag_id, f.task_id, f.run_id, f.try_number, f.source) == (
        "external:dataflow", "nightly-sessions", "2026-12-01_03_14_15-1234567890", 1, "pubsub")
    assert f.message == "java.lang.OutOfMemoryError: Java heap space" and f.failed_at == "2026-12-01T03:20:00.123Z"
    # A step's error is not the job's end: Dataflow retries work items. A poll says when it has failed.
    assert (job.job_type, job.status, job.project, job.location) == ("dataflow", "running", "analytics-prod",
                                                                     "europe-west1")


# -- publishing when Pub/Sub is unreachable (no emulator needed) -------------------------------------------


def test_without_a_topic_nothing_is_published_or_spooled(config, tmp_path):
    settings = config.replace(pubsub_topic="", spool_dir=str(tmp_path / "spool"))
    assert publish_incident(failure(), settings) is False
    assert spooled_events(settings) == 0 and replay_pubsub_spool(settings) == 0


def test_an_unreachable_pubsub_costs_the_timeout_once_and_the_event_is_spooled(config, tmp_path, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    settings = config.replace(pubsub_topic="projects/healer-test/topics/incidents", spool_dir=str(tmp_path),
                              pubsub_timeout_seconds=1.0)
    started = time.monotonic()
    assert publish_incident(failure(), settings, "inc-1") is False
    assert time.monotonic() - started < 1.5
    started = time.monotonic()  # the next failure of the same outage does not wait again
    assert publish_incident(failure(try_number=3), settings) is False
    assert time.monotonic() - started < 0.2
    lines = [json.loads(line) for line in (tmp_path / "pubsub.jsonl").read_text().splitlines()]
    assert [line["attributes"]["event_id"] for line in lines] == [f"sales/{RUN}/load/-1/2", f"sales/{RUN}/load/-1/3"]
    assert json.loads(lines[0]["data"])["incident_id"] == "inc-1" and lines[0]["topic"] == settings.pubsub_topic
    assert spooled_events(settings) == 2


def test_a_timed_out_publish_does_not_hold_the_process_at_exit(tmp_path):
    """The callback runs in the task's process as it ends: nothing may keep retrying behind it."""
    script = textwrap.dedent(f"""
        import os, time
        os.environ["PUBSUB_EMULATOR_HOST"] = "127.0.0.1:{free_port()}"
        os.environ["AIRFLOW_HOME"] = {str(tmp_path)!r}
        from airflow_healer.core.capture import make_failure
        from airflow_healer.core.config import HealerConfig
        from airflow_healer.gcp.pubsub import publish_incident
        config = HealerConfig.load().replace(pubsub_topic="projects/healer-test/topics/t1",
                                             pubsub_timeout_seconds=1.0, spool_dir={str(tmp_path)!r})
        published = publish_incident(make_failure(dag_id="d", task_id="t", run_id="r"), config)
        print(published, time.time(), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    exited = time.time()
    published, returned = done.stdout.split()
    assert published == "False" and exited - float(returned) < 2.0, done.stderr


# -- against the emulator ------------------------------------------------------------------------------


def test_a_failed_task_is_published_and_consumed_into_the_store(pubsub, tmp_path):
    incident_id = capture(task_context(), pubsub.config)
    assert incident_id
    [message] = pubsub.pull(pubsub.tap)
    stored = open_store(pubsub.config.store_url).get_incident(incident_id)
    assert dict(message.attributes) == {
        "schema": SCHEMA, "event_id": f"sales/{RUN}/load/-1/1", "dag_id": "sales", "task_id": "load",
        "error_type": "", "fingerprint": stored.fingerprint, "source": "callback"}
    assert json.loads(message.data)["incident_id"] == incident_id

    central = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(pubsub.config, central, max_messages=1)
    assert (report.received, report.stored, report.duplicates, report.dead_lettered, report.failed) == (1, 1, 0, 0, 0)
    incident = central.find_incident("sales", RUN, "load")
    assert (incident.message, incident.operator, incident.exception_type) == (
        TIMEOUT_MESSAGE, "PythonOperator", "TimeoutError")
    assert [(f.try_number, f.source) for f in incident.failures] == [(1, "callback")]
    assert "1 stored" in report.summary()


def test_a_callback_whose_store_is_down_still_publishes(pubsub, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    settings = pubsub.config.replace(store_url=f"sqlite:///{blocked / 'healer.db'}")
    assert capture(task_context(), settings) is None  # spooled for the store
    [message] = pubsub.pull(pubsub.tap)
    assert json.loads(message.data)["incident_id"] is None and message.attributes["dag_id"] == "sales"


def test_a_replayed_or_redelivered_event_is_not_a_second_incident(pubsub, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    for f in (failure(), failure(), failure(try_number=3)):  # the same try twice, then the next try
        assert publish_incident(f, pubsub.config)
    report = consume(pubsub.config, store, max_messages=3)
    assert (report.received, report.stored, report.duplicates) == (3, 2, 1)
    [incident] = store.list_incidents()
    assert [f.try_number for f in incident.failures] == [2, 3]


class FlakyStore:
    """A real store whose ``record_failure`` fails the first ``failures`` times (the store is down)."""

    def __init__(self, store, failures: int = 1):
        self._store, self.failures = store, failures

    def record_failure(self, failure):
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("database is locked")
        return self._store.record_failure(failure)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_message_the_store_cannot_take_is_not_acknowledged_and_comes_again(pubsub, tmp_path):
    store = FlakyStore(open_store(f"sqlite:///{tmp_path / 'central.db'}"))
    assert publish_incident(failure(), pubsub.config)
    report = consume(pubsub.config, store, max_messages=1)
    assert (report.received, report.stored, report.failed) == (1, 0, 1)
    assert "could not be stored: StoreUnavailable: database is locked" in report.errors[0]
    report = consume(pubsub.config, store, max_messages=1)  # nacked: delivered again at once
    assert (report.received, report.stored, report.failed) == (1, 1, 0)
    assert len(store.list_incidents()) == 1
    assert consume(pubsub.config, store, timeout=10).received == 0  # acknowledged: gone


def test_malformed_messages_go_to_the_dead_letter_topic_as_they_came(pubsub, tmp_path):
    bad = {"binary": (b"\x00\xff\x13\x37" * 64, "not UTF-8"), "text": (b"Task failed, see log", "not JSON"),
           "huge": (b"{" * (MAX_EVENT_BYTES + 500_000), "more than"),
           "other": (raw({"event": "deploy", "ok": True}), "neither an incident event"),
           "partial": (raw({"schema": SCHEMA, "dag_id": "sales"}), "task_id is missing"),
           "info": (raw(log_entry(text="Worker pool started", severity="INFO")), "severity INFO")}
    ids = {name: pubsub.publish(data, origin="test", name=name, timeout="30s") for name, (data, _) in bad.items()}
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(pubsub.config, store, max_messages=len(bad))
    assert (report.received, report.dead_lettered, report.stored, report.failed) == (len(bad), len(bad), 0, 0)
    dead = {m.attributes["name"]: m for m in pubsub.pull(pubsub.dead_letter, expect=len(bad))}
    assert set(dead) == set(bad)
    for name, (data, reason) in bad.items():
        attributes = dict(dead[name].attributes)
        assert dead[name].data == data
        assert reason in attributes.pop("healer_reason")
        assert attributes == {"origin": "test", "name": name, "healer_original_timeout": "30s",
                              "healer_subscription": pubsub.subscription, "healer_message_id": ids[name]}
    assert store.list_incidents() == []
    assert consume(pubsub.config, store, timeout=10).received == 0  # acknowledged once dead-lettered


def test_a_malformed_message_stays_until_the_dead_letter_topic_takes_it(pubsub, tmp_path):
    from airflow_healer.gcp.pubsub import publisher_client

    missing = pubsub.config.pubsub_dead_letter_topic + "-later"
    settings = pubsub.config.replace(pubsub_dead_letter_topic=missing)
    pubsub.publish(b"not json")
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(settings, store, max_messages=1)
    assert (report.dead_lettered, report.failed) == (0, 1) and "could not be dead-lettered" in report.errors[0]
    publisher_client().create_topic(name=missing)
    assert consume(settings, store, max_messages=1).dead_lettered == 1


def test_pubsub_down_while_a_task_fails_then_the_spool_is_replayed_once(pubsub, tmp_path, monkeypatch):
    settings = pubsub.config.replace(pubsub_timeout_seconds=1.0)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # the emulator is "down"
    started = time.monotonic()
    incident_id = capture(task_context(), settings)
    assert time.monotonic() - started < settings.pubsub_timeout_seconds + 1.0
    assert incident_id and spooled_events(settings) == 1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)  # back up
    assert replay_pubsub_spool(settings) == 1
    assert spooled_events(settings) == 0 and replay_pubsub_spool(settings) == 0
    central = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(settings, central, max_messages=5, timeout=10)
    assert (report.received, report.stored) == (1, 1)
    assert [f.try_number for f in central.find_incident("sales", RUN, "load").failures] == [1]


def test_dataflow_error_log_entries_become_one_classified_incident_and_a_job_row(pubsub, tmp_path):
    job_id = "2026-12-01_03_14_15-1234567890"
    first = raw(log_entry(job_id, text="java.lang.OutOfMemoryError: Java heap space"))
    second = raw(log_entry(job_id, json_payload={"message": "Workflow failed. Causes: S05:WriteToBigQuery failed: "
                                                            "The worker lost contact with the service."}))
    for data in (first, second, first):  # the first entry is delivered twice
        pubsub.publish(data)
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(pubsub.config, store, healer=Healer(pubsub.config, store=store), max_messages=3)
    assert (report.received, report.stored, report.duplicates, report.classified) == (3, 2, 1, 1)
    [incident] = store.list_incidents()
    assert (incident.dag_id, incident.task_id, incident.run_id) == ("external:dataflow", "nightly-sessions", job_id)
    assert "OutOfMemoryError" in incident.message and "lost contact" in incident.message
    assert incident.error_type is not None and [f.source for f in incident.failures] == ["pubsub"]
    job = store.get_pipeline_job(job_id)
    assert (job["status"], job["job_type"], job["job_name"], job["project"], job["location"]) == (
        "running", "dataflow", "nightly-sessions", "analytics-prod", "europe-west1")
    assert (job["incident_id"], job["error_type"]) == (incident.id, incident.error_type.value)
    assert job["error_message"] == incident.message


def test_a_streaming_jobs_memory_errors_raise_its_worker_range_once_then_it_waits(pubsub, tmp_path, mocker):
    from google.cloud import dataflow_v1beta3 as dataflow

    from airflow_healer.gcp.jobs import ExternalJob

    job_id = "2026-12-01_03_14_15-1234567890"
    rules = {"nightly-*": {"flex_template": "gs://t/sessions.json",
                           "ladder": [{"min_workers": 1, "max_workers": 5}, {"min_workers": 2, "max_workers": 20}]}}
    config = pubsub.config.replace(external_heal="nightly-*", dataflow_relaunch=json.dumps(rules))
    live = ExternalJob(job_type="dataflow", job_id=job_id, job_name="nightly-sessions", status="running",
                       state="JOB_STATE_RUNNING", project="analytics-prod", location="europe-west1",
                       changed_at="2026-12-01T03:20:00.000Z",
                       details={"job_kind": "streaming", "streaming_engine": True, "max_workers": 5})
    reads = []

    class Source:
        def get(self, wanted):
            reads.append(wanted)
            return dataclasses.replace(live)

    client = mocker.create_autospec(dataflow.JobsV1Beta3Client, instance=True)
    mocker.patch.object(dataflow, "JobsV1Beta3Client", return_value=client)
    mocker.patch("airflow_healer.gcp.actions.google_credentials", return_value=object())
    oom = "ResourceExhausted: Container worker exceeded memory limit 3.75GiB, killed by the kernel OOM killer"
    pubsub.publish(raw(log_entry(job_id, text=oom)))
    pubsub.publish(raw(log_entry(job_id, text=oom + " (worker harness-7)")))
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    report = consume(config, store, healer=Healer(config, store=store), max_messages=2,
                     job_source=lambda *where: Source())
    assert report.stored == 2 and reads == [job_id, job_id]
    [call] = client.update_job.call_args_list
    request = call.kwargs["request"]
    assert (request.project_id, request.job_id, request.location) == ("analytics-prod", job_id, "europe-west1")
    assert (request.job.runtime_updatable_params.min_num_workers,
            request.job.runtime_updatable_params.max_num_workers) == (2, 20)
    assert sorted(request.update_mask.paths) == ["runtime_updatable_params.max_num_workers",
                                                 "runtime_updatable_params.min_num_workers"]
    [incident] = store.list_incidents()
    [action] = incident.actions  # the second entry waited for the new range to take effect
    assert (action.strategy, str(action.outcome)) == ("rescale", "success")


class NeverRanApi:
    """Airflow's API with one task instance that failed without running."""

    def __init__(self, now: datetime):
        end = (now - timedelta(minutes=5)).isoformat(timespec="microseconds").replace("+00:00", "Z")
        self.ti = {"dag_id": "sales", "task_id": "export", "dag_run_id": RUN, "map_index": -1, "try_number": 1,
                   "state": "failed", "operator": "BashOperator", "start_date": None, "end_date": end}

    def failed_task_instances(self, *, since, until, limit=100, offset=0, inclusive=False):
        return {"task_instances": [self.ti] if offset == 0 else [], "total_entries": 1}

    def successful_task_instances(self, *, since, limit=20):
        return []

    def task_instances(self, dag_id, run_id):
        return []


def test_a_watchdog_cycle_replays_the_spool_and_publishes_what_it_records(pubsub, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    assert not publish_incident(failure(), pubsub.config.replace(pubsub_timeout_seconds=1.0))  # spooled
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    now = datetime.now(timezone.utc)
    report = Watchdog(Healer(pubsub.config), NeverRanApi(now), now=lambda: now).cycle()
    assert report.recorded == 1 and spooled_events(pubsub.config) == 0
    messages = {m.attributes["task_id"]: m for m in pubsub.pull(pubsub.tap, expect=2)}
    assert set(messages) == {"load", "export"}
    watchdog = messages["export"]
    assert watchdog.attributes["source"] == "watchdog" and watchdog.attributes["error_type"]
    assert json.loads(watchdog.data)["incident_id"]


def test_the_cli_replays_and_consumes(pubsub, monkeypatch, capsys, tmp_path):
    settings = {"store_url": f"sqlite:///{tmp_path / 'central.db'}", "spool_dir": pubsub.config.spool_dir,
                "pubsub_topic": pubsub.topic, "pubsub_subscription": pubsub.subscription,
                "pubsub_dead_letter_topic": pubsub.config.pubsub_dead_letter_topic}
    for key, value in settings.items():
        monkeypatch.setenv(f"AIRFLOW__HEALER__{key.upper()}", value)
    assert main(["pubsub", "replay"]) == 0
    assert "Published 0 of 0 spooled event(s)" in capsys.readouterr().out
    assert publish_incident(failure(), pubsub.config)
    assert main(["pubsub", "consume", "--max", "1"]) == 0
    assert "1 message(s) from" in (out := capsys.readouterr().out) and "1 stored" in out and "1 classified" in out
