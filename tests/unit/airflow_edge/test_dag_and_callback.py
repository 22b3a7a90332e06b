"""self_healing() and the callback with Airflow's real SDK classes (no scheduler needed)."""

from types import SimpleNamespace

import pendulum
from airflow.sdk import DAG, TriggerRule, task

from airflow_healer import HealerNotifier, HealOperator, on_failure_callback, self_healing
from airflow_healer.core.store import open_store
from airflow_healer.notifications.callback import on_success_callback


def build(existing_callback=None):
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        @task(on_failure_callback=existing_callback)
        def a():
            pass

        @task
        def b():
            pass

        a() >> b()
    return self_healing(dag)


def test_self_healing_adds_one_healer_after_every_task():
    dag = build()
    healer = dag.get_task("healer")
    assert isinstance(healer, HealOperator)
    # It retries itself (resuming from the store) when Airflow fails it mid-wait; an unhealed run fails it for good.
    assert healer.trigger_rule == TriggerRule.ONE_FAILED and healer.retries == 2
    assert healer.upstream_task_ids == {"a", "b"}
    assert [t.task_id for t in dag.tasks if not t.downstream_task_ids] == ["healer"]  # the only leaf
    for task_id in ("a", "b"):
        assert on_failure_callback in dag.get_task(task_id).on_failure_callback
        assert on_success_callback in dag.get_task(task_id).on_success_callback  # a healed try records itself


def test_existing_callbacks_are_kept():
    def mine(context):
        pass

    callbacks = build(existing_callback=mine).get_task("a").on_failure_callback
    assert callbacks == [mine, on_failure_callback]


def context(exception, try_number=1):
    ti = SimpleNamespace(dag_id="etl", task_id="extract", run_id="r1", map_index=-1, try_number=try_number,
                         start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), hostname="worker-1")
    return {"ti": ti, "task": SimpleNamespace(task_type="PythonOperator"), "exception": exception}


def test_the_callback_records_every_field(config):
    try:
        raise TimeoutError("Read timed out (token=abc123secret)")
    except TimeoutError as exc:
        on_failure_callback(context(exc, try_number=3))
    [incident] = open_store(config.store_url).list_incidents()
    failure = incident.failures[0]
    assert (failure.dag_id, failure.task_id, failure.run_id, failure.map_index, failure.try_number) == (
        "etl", "extract", "r1", -1, 3)
    assert (failure.operator, failure.exception_type, failure.hostname) == ("PythonOperator", "TimeoutError", "worker-1")
    assert "abc123secret" not in failure.message and "Read timed out" in failure.message
    assert "raise TimeoutError" in failure.traceback
    assert failure.started_at.startswith("2026-01-01") and failure.failed_at and failure.fingerprint


def test_a_killed_task_without_exception_is_still_recorded(config):
    on_failure_callback({**context(None), "exception": None})
    [incident] = open_store(config.store_url).list_incidents()
    assert "without a Python exception" in incident.message


def test_the_callback_never_raises_on_a_broken_context(config, caplog):
    on_failure_callback({"nothing": "useful"})
    assert "could not capture" in caplog.text


def test_the_notifier_takes_settings(config, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    HealerNotifier(store_url=other).notify(context(ValueError("bad row 7")))
    assert open_store(other).list_incidents()[0].message == "bad row 7"
    assert open_store(config.store_url).list_incidents() == []


def test_the_callback_reads_the_cause_from_the_local_log_file(config, airflow_home, monkeypatch):
    """The fast path: the try's log file where Airflow's file task handler writes it."""
    import json

    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(airflow_home / "logs"))
    log = airflow_home / "logs" / "dag_id=etl" / "run_id=r1" / "task_id=extract" / "attempt=1.log"
    log.parent.mkdir(parents=True)
    hook = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
    curl = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"
    log.write_text("\n".join(json.dumps(e) for e in [
        {"event": "DAG bundles loaded: dags-folder", "level": "info", "logger": "airflow.dag_processing"},
        {"event": "Output:", "level": "info", "logger": hook},
        {"event": curl + " password=hunter2", "level": "info", "logger": hook},
        {"event": "Command exited with return code 28", "level": "info", "logger": hook},
    ]) + "\n")
    from airflow.sdk.exceptions import AirflowException

    on_failure_callback(context(AirflowException(
        "Bash command failed. The command returned a non-zero exit code 28.")))
    [incident] = open_store(config.store_url).list_incidents()
    [line] = incident.log_lines
    assert line["text"].startswith(curl) and "hunter2" not in line["text"]  # redacted like the message
    assert "hunter2" not in incident.log_excerpt and "DAG bundles loaded" in incident.log_excerpt
    assert incident.log_note == "return code 28"


def test_without_a_local_log_file_the_callback_records_the_exception_alone(config, airflow_home, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(airflow_home / "no-logs-here"))
    on_failure_callback(context(TimeoutError("Read timed out")))
    [incident] = open_store(config.store_url).list_incidents()
    assert incident.message == "Read timed out" and incident.log_lines == [] and incident.log_note == ""


def test_self_healing_keeps_setup_teardown_groups_and_mapped_tasks_valid(tmp_path, airflow_home):
    """Airflow refuses a setup task followed by anything but all_success: the healer follows the rest."""
    (tmp_path / "shapes.py").write_text('''
import pendulum
from airflow.sdk import DAG, setup, task, task_group, teardown
from airflow_healer import self_healing

with DAG("shapes", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    @setup
    def create_cluster(): ...

    @teardown
    def delete_cluster(): ...

    @task
    def work(n): ...

    @task_group
    def section():
        @task
        def inner(): ...
        inner()

    c = create_cluster()
    c >> work.expand(n=[1, 2, 3]) >> delete_cluster()
    c >> section()

self_healing(dag)
''')
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(tmp_path))
    assert bag.import_errors == {}
    dag = bag.dags["shapes"]
    assert [t.task_id for t in dag.tasks if not t.downstream_task_ids] == ["healer"]
    assert dag.get_task("healer").upstream_task_ids == {"work", "delete_cluster", "section.inner"}
