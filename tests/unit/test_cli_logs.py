"""`airflow-healer logs ...` and `airflow-healer watchdog status` on real files and a real store."""

import json

from airflow_healer.cli import main
from airflow_healer.core.store import open_store
from airflow_healer.core.watchdog import STATE_BLOB

HOOK = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
CURL = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"


def write_log(path, events):
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def bash_log(path, middle):
    return write_log(path, [
        {"event": "DAG bundles loaded: dags-folder", "level": "info", "logger": "airflow.dag_processing"},
        {"event": "Output:", "level": "info", "logger": HOOK},
        *({"event": line, "level": "info", "logger": HOOK} for line in middle),
        {"event": "Command exited with return code 28", "level": "info", "logger": HOOK},
    ])


def test_logs_locate_shows_the_telling_lines_and_their_classification(config, tmp_path, capsys):
    log = bash_log(tmp_path / "attempt=1.log", ["exporting partners", CURL])
    assert main(["logs", "locate", str(log), "--json",
                 "--message", "Bash command failed. The command returned a non-zero exit code 28."]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [line["text"] for line in out["lines"]] == [CURL]
    assert out["note"] == "return code 28"
    assert out["classification"]["error_type"] == "network_timeout"
    assert main(["logs", "locate", str(log)]) == 0
    assert "network_timeout" in capsys.readouterr().out


def test_logs_locate_of_a_missing_file_is_a_clear_error(config, tmp_path, capsys):
    assert main(["logs", "locate", str(tmp_path / "nope.log")]) == 2
    assert "Cannot read the log" in capsys.readouterr().err


def test_logs_learn_keeps_new_boilerplate_in_the_store(config, tmp_path, capsys):
    ok = bash_log(tmp_path / "ok.log", ["Warehouse session 17 opened for job nightly_17", "hello"])
    assert main(["logs", "learn", str(ok)]) == 0
    assert "Learnt 2 boilerplate template(s)" in capsys.readouterr().out
    assert main(["logs", "learn", str(ok)]) == 0  # nothing new the second time
    assert "Learnt 0" in capsys.readouterr().out
    failed = bash_log(tmp_path / "failed.log", ["Warehouse session 18 opened for job nightly_18", CURL])
    assert main(["logs", "locate", str(failed), "--json"]) == 0
    assert [line["text"] for line in json.loads(capsys.readouterr().out)["lines"]] == [CURL]


def test_watchdog_status_before_and_after_a_cycle(config, capsys):
    assert main(["watchdog", "status"]) == 0
    assert "has not run yet" in capsys.readouterr().out
    report = {"seen": 3, "recorded": 2, "already_recorded": 1, "excluded": 0, "classified": {"network_timeout": 2},
              "errors": []}
    open_store(config.store_url).put_blob(STATE_BLOB, json.dumps(
        {"watermark": "2026-12-01T00:00:00.000000Z", "last_cycle": "2026-12-01T00:00:31.000000Z",
         "last_report": report, "pending": []}).encode())
    assert main(["watchdog", "status", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["watermark"] == "2026-12-01T00:00:00.000000Z" and out["last_report"]["recorded"] == 2


def test_proposals_list_approve_and_reject_from_the_command_line(config, capsys):
    from airflow_healer.core.capture import make_failure

    store = open_store(config.store_url)
    incident = store.get_incident(store.record_failure(make_failure(
        dag_id="etl", task_id="load", run_id="r1", message="403 Forbidden: permission denied")))
    first = store.add_proposal(incident, "grant_permission", "grant roles/bigquery.dataViewer to etl@", 3600)
    second = store.add_proposal(incident, "grant_permission", "grant it again", 3600)
    assert main(["proposals", "list", "--format", "json"]) == 0
    assert {p["id"] for p in json.loads(capsys.readouterr().out)} == {first["id"], second["id"]}
    assert main(["proposals", "approve", first["id"], "--note", "granted", "--user", "ana"]) == 0
    assert "approved" in capsys.readouterr().out
    assert main(["proposals", "approve", first["id"], "--user", "bob"]) == 1  # twice: a clear error
    assert "already approved by ana" in capsys.readouterr().err
    assert main(["proposals", "reject", second["id"], "--reason", "not ours", "--user", "bob"]) == 0
    assert main(["proposals", "list", "--status", "rejected"]) == 0
    assert "rejected by bob" in capsys.readouterr().out
