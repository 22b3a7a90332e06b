"""Reading a task log: the bounded tail of a file, and every shape of log split into lines with a level."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_healer.core.logs import parse_log, read_tail
from airflow_healer.core.logs.read import MAX_LINE_CHARS, MAX_LOG_BYTES, MAX_LOG_LINES

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOOK = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
IDS = {"ti_id": "0193a6c4-5b2e-7c4d-9f1a-2b3c4d5e6f70", "dag_id": "export_partners",
       "run_id": "scheduled__2026-12-01T00:00:00+00:00"}


def event(text: str, level: str = "info", logger: str = "task", **fields) -> dict:
    """One Airflow 3 structured event, as the task runner writes it."""
    return {"timestamp": "2026-12-01T23:24:53.913028Z", "level": level, "event": text, "logger": logger,
            **IDS, "filename": "task_runner.py", "lineno": 1579, **fields}


def failure(*exceptions: dict) -> dict:
    return event("Task failed with exception", "error", error_detail=list(exceptions))


def exc(exc_type: str, value: str, *, is_cause: bool = False, frame: str = "/x/task_runner.py", **extra) -> dict:
    return {"exc_type": exc_type, "exc_value": value, "exc_notes": [], "syntax_error": None, "is_cause": is_cause,
            "frames": [{"filename": "/opt/airflow/dags/probe.py", "lineno": 12, "name": "probe"},
                       {"filename": frame, "lineno": 1579, "name": "run"}],
            "is_group": False, "exceptions": [], **extra}


def json_lines(events: list[dict]) -> str:
    return "\n".join(json.dumps(e) for e in events)


CURL = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"
BASH_EVENTS = [
    event("::group::Pre Execute"),
    event("DAG bundles loaded: dags-folder", logger="airflow.dag_processing.bundles.manager.DagBundlesManager"),
    event("Worker startup parse complete"),
    event("::endgroup::"),
    event("Running command: ['/usr/bin/bash', '-c', 'curl ...']", logger=HOOK),
    event(CURL, logger=HOOK),
    event("Command exited with return code 28", logger=HOOK),
    failure(exc("AirflowException", "Bash command failed. The command returned a non-zero exit code 28.")),
    event("::group::Post Execute"),
    event("::endgroup::"),
]


# -- read_tail ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_megabyte_log(tmp_path_factory):
    """A 50 MB Airflow 3 log of a chatty BashOperator; the failure is in its last lines."""
    body = "".join(json.dumps(event(f"Processed batch {i} of 180000 ({i * 37 % 100000} rows{'.' * (i % 23)})",
                                    logger=HOOK)) + "\n" for i in range(997))
    tail = json_lines([event(CURL, logger=HOOK), event("Command exited with return code 28", logger=HOOK),
                       failure(exc("AirflowException", "Bash command failed. The command returned a non-zero "
                                                       "exit code 28."))]) + "\n"
    path = tmp_path_factory.mktemp("logs") / "attempt=1.log"
    with open(path, "w", encoding="utf-8") as fh:
        while fh.tell() < 50 * 1024 * 1024:
            fh.write(body)
        fh.write(tail)
    return path


def test_read_tail_of_a_50_mb_log_is_bounded_and_starts_on_a_line(fifty_megabyte_log):
    text = read_tail(fifty_megabyte_log)
    assert fifty_megabyte_log.stat().st_size > 50 * 1024 * 1024
    assert len(text.encode("utf-8")) <= MAX_LOG_BYTES
    with open(fifty_megabyte_log, "rb") as fh:
        fh.seek(-len(text.encode("utf-8")) - 1, 2)
        assert fh.read(1) == b"\n"  # the byte before the tail ends a line
    first, *_, last = text.splitlines()
    assert json.loads(first)["event"].startswith("Processed batch")
    assert json.loads(last)["error_detail"][0]["exc_type"] == "AirflowException"


def test_the_tail_of_a_50_mb_log_still_holds_its_failure(fifty_megabyte_log):
    lines = parse_log(read_tail(fifty_megabyte_log))
    assert len(lines) <= MAX_LOG_LINES
    assert lines[-1].text == "AirflowException: Bash command failed. The command returned a non-zero exit code 28."
    assert CURL in [line.text for line in lines]


@pytest.mark.parametrize("max_bytes", [1, 100, 4096])
def test_read_tail_honours_max_bytes(tmp_path, max_bytes):
    path = tmp_path / "attempt=1.log"
    path.write_text("".join(f"line {i} of the task's output\n" for i in range(2000)))
    text = read_tail(path, max_bytes=max_bytes)
    assert len(text.encode()) <= max_bytes


def test_read_tail_of_a_small_log_is_the_whole_log(tmp_path):
    path = tmp_path / "attempt=1.log"
    path.write_text(json_lines(BASH_EVENTS))
    assert read_tail(path) == json_lines(BASH_EVENTS)


def test_read_tail_replaces_invalid_utf8(tmp_path):
    path = tmp_path / "attempt=1.log"
    path.write_bytes(b"starting\n\xff\xfe broken \xc3\n" + CURL.encode())
    text = read_tail(path)
    assert text.splitlines()[-1] == CURL
    assert "\ufffd" in text


def test_read_tail_of_a_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        read_tail(tmp_path / "no-such.log")


# -- Airflow 3 structured events ------------------------------------------------------------------


def test_json_lines_become_events_without_the_ui_folding_markers():
    lines = parse_log(json_lines(BASH_EVENTS))
    texts = [line.text for line in lines]
    assert not any(t.startswith(("::group::", "::endgroup::")) for t in texts)
    assert texts[0] == "DAG bundles loaded: dags-folder"
    curl = lines[texts.index(CURL)]
    assert (curl.level, curl.logger, curl.kind, curl.framed) == ("INFO", HOOK, "event", True)
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))


def test_an_exception_event_gives_its_exception_as_an_error_line_after_the_event():
    *_, fail, exc_line = parse_log(json_lines(BASH_EVENTS))[:7]
    assert (fail.text, fail.level) == ("Task failed with exception", "ERROR")
    assert exc_line.text == "AirflowException: Bash command failed. The command returned a non-zero exit code 28."
    assert (exc_line.kind, exc_line.level) == ("exception", "ERROR")
    assert exc_line.logger == "/x/task_runner.py:1579 in run"  # where it was raised: the last frame


def test_a_chained_exception_reads_cause_first_like_a_traceback():
    log = json_lines([failure(exc("RuntimeError", "fetch failed"),
                              exc("ConnectionResetError", "[Errno 104] Connection reset by peer", is_cause=True))])
    assert [line.text for line in parse_log(log)] == [
        "Task failed with exception",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "RuntimeError: fetch failed",
    ]


def test_exception_notes_and_groups_are_lines_too():
    group = exc("ExceptionGroup", "2 loads failed", exc_notes=["while loading partition dt=2026-11-30"],
                exceptions=[exc("ValueError", "bad row 7"), exc("KeyError", "'customer_id'")])
    texts = [line.text for line in parse_log([failure(group)])]
    assert texts[1:] == ["ExceptionGroup: 2 loads failed", "while loading partition dt=2026-11-30",
                         "ValueError: bad row 7", "KeyError: 'customer_id'"]


def test_an_exception_without_a_value_is_its_type():
    assert parse_log([failure(exc("KeyboardInterrupt", ""))])[-1].text == "KeyboardInterrupt"


def test_a_formatted_traceback_in_exc_info_is_split_into_lines():
    tb = 'Traceback (most recent call last):\n  File "/x.py", line 1, in f\n    g()\nValueError: boom'
    lines = parse_log([event("Task failed", "error", exc_info=tb)])
    assert [line.text for line in lines] == ["Task failed", *tb.splitlines()]
    assert {line.kind for line in lines[1:]} == {"exception"}


def test_the_supervisors_signal_fields_are_appended_to_the_text():
    killed = event("Process terminated by signal. Likely out of memory error (OOM).", "critical",
                   signal=-9, signal_name="SIGKILL")
    (line,) = parse_log(json_lines([killed]))
    assert line.text == "Process terminated by signal. Likely out of memory error (OOM). (signal=-9, signal_name=SIGKILL)"
    assert line.level == "CRITICAL"


def test_bytes_parse_like_text():
    text = json_lines(BASH_EVENTS)
    assert parse_log(text.encode()) == parse_log(text)


def test_the_apis_event_list_skips_its_source_details_group():
    content = [
        {"timestamp": None, "event": "::group::Log message source details",
         "sources": ["/opt/airflow/logs/dag_id=failed_exports/run_id=x/task_id=load/attempt=1.log"]},
        {"event": "* /opt/airflow/logs/dag_id=failed_exports/run_id=x/task_id=load/attempt=1.log"},
        {"timestamp": None, "event": "::endgroup::"},
        *BASH_EVENTS,
    ]
    texts = [line.text for line in parse_log(content)]
    assert not any("failed_exports" in t for t in texts)
    assert texts == [line.text for line in parse_log(json_lines(BASH_EVENTS))]


def test_the_apis_event_list_may_hold_plain_strings():
    texts = [line.text for line in parse_log([event("Output:", logger=HOOK), "ERROR: disk quota exceeded"])]
    assert texts == ["Output:", "ERROR: disk quota exceeded"]


def test_a_line_that_only_looks_like_json_is_text():
    (line,) = parse_log('{"rows": 3, broken')
    assert (line.text, line.kind) == ('{"rows": 3, broken', "text")


# -- plain text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, text, level, logger",
    [
        ("[2024-05-01, 12:00:00 UTC] {taskinstance.py:1937} ERROR - Task failed with exception",
         "Task failed with exception", "ERROR", "taskinstance.py:1937"),
        ("[2024-05-01T12:00:00.123+0000] {subprocess.py:93} INFO - curl: (6) Could not resolve host: x",
         "curl: (6) Could not resolve host: x", "INFO", "subprocess.py:93"),
        ("[2026-12-01 23:24:53] ERROR - Task failed with exception source=task loc=task_runner.py:1000",
         "Task failed with exception", "ERROR", None),
        ("2026-12-01T23:24:53.913028Z [error    ] Connection refused [task] ti_id=1",
         "Connection refused [task] ti_id=1", "ERROR", None),
    ],
    ids=["airflow2", "airflow2-iso", "airflow3-rendered", "structlog-console"],
)
def test_airflows_own_framings_are_stripped(raw, text, level, logger):
    (line,) = parse_log(raw)
    assert (line.text, line.level, line.logger, line.framed) == (text, level, logger, True)


@pytest.mark.parametrize(
    "raw, level",
    [
        ("24/05/01 12:00:12 ERROR TaskSetManager: Task 3 in stage 2.0 failed 4 times; aborting job", "ERROR"),
        ("2024-05-01 12:00:09,123 WARN scheduler.TaskSetManager: Lost task 3.0 in stage 2.0", "WARNING"),
        ("E1201 23:24:55.000000       1 reflector.go:138] failed to list *v1.Pod: pods is forbidden", "ERROR"),
        ("I1201 23:24:54.000000       1 main.go:50] syncing", "INFO"),
        pytest.param('time="2026-12-01T23:24:55Z" level=error msg="image pull failed"', "ERROR"),
        ("Caused by: java.net.SocketTimeoutException: Read timed out", None),
    ],
    ids=["log4j-error", "log4j-warn", "glog-error", "glog-info", "logfmt", "no-level"],
)
def test_other_framings_keep_their_text_and_give_their_level(raw, level):
    (line,) = parse_log(raw)
    assert (line.text, line.level, line.framed) == (raw, level, False)


def test_a_framed_folding_marker_is_dropped():
    assert parse_log("[2024-05-01, 12:00:00 UTC] {x.py:1} INFO - ::group::Pre Execute") == []


def test_only_the_last_max_lines_are_kept():
    lines = parse_log("\n".join(f"step {i}" for i in range(500)), max_lines=50)
    assert [line.text for line in lines] == [f"step {i}" for i in range(450, 500)]


def test_a_huge_line_is_cut():
    (line,) = parse_log("x" * 50_000 + " Connection refused")
    assert len(line.text) <= MAX_LINE_CHARS + 10


def test_a_huge_text_is_read_by_its_head_and_tail():
    log = "starting\n" + "progress ...\n" * 200_000 + CURL
    lines = parse_log(log)
    assert len(lines) <= MAX_LOG_LINES
    assert lines[-1].text == CURL


# -- never raises, bounded ------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_EXCEPTIONS = st.fixed_dictionaries({}, optional={
    "exc_type": _SCALARS, "exc_value": _SCALARS, "is_cause": _SCALARS,
    "frames": st.lists(_JSON, max_size=3), "exc_notes": st.lists(_JSON, max_size=3),
    "exceptions": st.lists(_JSON, max_size=3)})
EVENTS = st.fixed_dictionaries({}, optional={
    "event": _SCALARS, "message": _SCALARS, "level": st.sampled_from(["info", "error", "critical", "W"]) | _SCALARS,
    "logger": _SCALARS, "signal": _SCALARS, "signal_name": _SCALARS, "return_code": _SCALARS,
    "error_detail": st.lists(_EXCEPTIONS, max_size=3) | st.text(max_size=200) | _SCALARS,
    "exc_info": st.text(max_size=200),
}) | st.dictionaries(st.text(max_size=12), _JSON, max_size=6)


@FAST
@given(st.binary(max_size=20_000))
def test_any_bytes_parse_bounded(blob):
    lines = parse_log(blob)
    assert len(lines) <= MAX_LOG_LINES
    assert all(isinstance(line.text, str) for line in lines)


@FAST
@given(st.text(max_size=5_000))
def test_any_text_parses_bounded(text):
    lines = parse_log(text)
    assert len(lines) <= MAX_LOG_LINES
    assert all(len(line.text) <= MAX_LINE_CHARS + 10 for line in lines)


@FEW
@given(st.lists(EVENTS | _JSON, max_size=20))
def test_any_list_of_events_parses_bounded(items):
    lines = parse_log(items, max_lines=100)
    assert len(lines) <= 100


@FEW
@given(st.lists(EVENTS, max_size=12))
def test_any_events_written_as_json_lines_parse(events):
    parse_log(json_lines(events))


@pytest.mark.parametrize("field, value", [("frames", 5), ("frames", {"a": 1}), ("exc_notes", 3), ("exceptions", 3)])
def test_an_error_detail_with_fields_of_the_wrong_type_does_not_raise(field, value):
    bad = {"exc_type": "ValueError", "exc_value": "bad row 7", field: value}
    lines = parse_log(json_lines([failure(bad)]))
    assert lines[-1].text == "ValueError: bad row 7"


def test_a_deeply_nested_json_line_does_not_raise():
    line = '{"event": "x", "payload": ' + "[" * 1000 + "]" * 1000 + "}"
    assert len(parse_log(f"starting\n{line}\n{CURL}")) >= 2
