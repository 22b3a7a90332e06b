import json

from airflow_healer.cli import main
from airflow_healer.core.capture import Spool, make_failure
from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store import open_store
from airflow_healer.core.types import Action, Classification, ErrorType, Outcome


def _seed(config):
    store = open_store(config.store_url)
    incident_id = store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r1",
                                                    message="Read timed out"))
    store.set_classification(incident_id, Classification(ErrorType.NETWORK_TIMEOUT, 0.8))
    store.finish_action(store.add_action(incident_id, Action("retry", 1)), Outcome.SUCCESS)
    return incident_id


def test_incidents_list_json_has_classification_actions_and_outcomes(config, capsys):
    incident_id = _seed(config)
    assert main(["incidents", "list", "--format", "json"]) == 0
    [incident] = json.loads(capsys.readouterr().out)
    assert incident["id"] == incident_id
    assert (incident["error_type"], incident["confidence"]) == ("network_timeout", 0.8)
    assert [(a["strategy"], a["outcome"]) for a in incident["actions"]] == [("retry", "success")]


def test_incidents_list_table_and_show(config, capsys):
    incident_id = _seed(config)
    assert main(["incidents", "list"]) == 0
    assert "etl.extract" in capsys.readouterr().out
    assert main(["incidents", "show", incident_id]) == 0
    assert json.loads(capsys.readouterr().out)["task_id"] == "extract"
    assert main(["incidents", "show", "nope"]) == 1


def test_replay_writes_the_spool(config, capsys):
    Spool(config.spool_dir).append(make_failure(dag_id="etl", task_id="t", run_id="r", message="x"))
    assert main(["replay"]) == 0
    assert "Replayed 1 of 1" in capsys.readouterr().out
    assert len(open_store(HealerConfig.load().store_url).list_incidents()) == 1


def test_a_bad_setting_is_a_clear_error_not_a_traceback(config, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW__HEALER__MODE", "yolo")
    assert main(["incidents", "list"]) == 2
    assert "mode" in capsys.readouterr().err
