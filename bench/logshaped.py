"""Put error messages inside Airflow task logs, the way a failed try's log holds them.

The dev set's messages are real; the boilerplate around them is written here (not taken from the
seed templates the localiser ships), in the shapes users meet: Airflow 3 JSON-lines files with the
message as an exception event or as a subprocess's output, the same log as the UI renders it,
Airflow 2 text logs with a traceback, and a KubernetesPodOperator's pod output. ``make_log(message,
seed)`` gives the same log for the same arguments.
"""

from __future__ import annotations

import json
import random

_DAGS = ["etl_orders", "daily_revenue", "ingest_events", "ml_features", "export_partners"]
_TASKS = ["extract", "load_bq", "transform", "publish", "run_job", "sync"]
_USER_LINES = [
    "Loading config for environment prod",
    "Fetched 48213 rows from source",
    "Processing batch 3 of 12",
    "Writing partition dt=2026-11-30",
    "Connecting to warehouse",
    "Starting export of customers table",
    "Using temporary directory /tmp/work-81c2",
    "Progress: 45% (4500/10000)",
    "Uploading part-00017.parquet (12.4 MB)",
    "Query submitted, polling for results",
]


def _ts(r: random.Random, i: int) -> str:
    return f"2026-11-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{i % 60:02d}.{r.randint(0, 999999):06d}Z"


def _exc_split(message: str) -> tuple[str, str]:
    first = message.split("\n", 1)[0]
    head, sep, _ = first.partition(": ")
    if sep and " " not in head and head[:1].isalpha() and ("Error" in head or "Exception" in head):
        return head, message[len(head) + 2 :]
    return "Exception", message


def _events(r: random.Random, message: str, dag: str, task: str) -> list[dict]:
    ids = {"dag_id": dag, "task_id": task, "try_number": 1, "map_index": -1,
           "run_id": f"scheduled__2026-11-{r.randint(1, 28):02d}T00:00:00+00:00"}
    pre = [
        {"event": "::group::Setup", "level": "info", "logger": "task"},
        {"event": "Loaded DAG bundle: dags-folder (version none)", "level": "info", "logger": "airflow.dag_processing.bundles"},
        {"event": f"Parsing /opt/airflow/dags/{dag}.py for task {task}", "level": "info", "logger": "airflow.dag_processing.dagbag"},
        {"event": "Task runner ready", "level": "info", "logger": "task", **ids},
        {"event": "::endgroup::", "level": "info", "logger": "task"},
    ]
    user = [{"event": line, "level": "info", "logger": "task.stdout"} for line in r.sample(_USER_LINES, r.randint(1, 4))]
    shape = r.random()
    if shape < 0.5:  # the message is the exception
        exc_type, value = _exc_split(message)
        fail = [{"event": "Task failed with exception", "level": "error", "logger": "task", **ids, "error_detail": [
            {"exc_type": exc_type, "exc_value": value, "exc_notes": [], "is_cause": False,
             "frames": [{"filename": f"/opt/airflow/dags/{dag}.py", "lineno": r.randint(10, 300), "name": task},
                        {"filename": "/usr/local/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py",
                         "lineno": 1579, "name": "run"}]}]}]
    else:  # a subprocess printed it; the exception is a wrapper
        code = r.choice([1, 2, 28, 137])
        fail = [{"event": "Run command: bash -c ./run.sh", "level": "info", "logger": "airflow.task.hooks.subprocess"}]
        fail += [{"event": line, "level": "info", "logger": "airflow.task.hooks.subprocess"} for line in message.split("\n")]
        fail += [{"event": f"Command exited with return code {code}", "level": "info", "logger": "airflow.task.hooks.subprocess"},
                 {"event": "Task failed with exception", "level": "error", "logger": "task", **ids, "error_detail": [
                     {"exc_type": "AirflowException", "exc_value": f"Bash command failed. The command returned a non-zero exit code {code}.",
                      "exc_notes": [], "is_cause": False, "frames": []}]}]
    post = [{"event": "::group::Teardown", "level": "info", "logger": "task"},
            {"event": "Task instance state updated to failed", "level": "info", "logger": "task", **ids},
            {"event": "::endgroup::", "level": "info", "logger": "task"}]
    out = pre + user + fail + post
    for i, e in enumerate(out):
        e.setdefault("timestamp", _ts(r, i))
    return out


def _airflow3_json(r: random.Random, message: str, dag: str, task: str) -> str:
    return "\n".join(json.dumps(e) for e in _events(r, message, dag, task))


def _airflow3_rendered(r: random.Random, message: str, dag: str, task: str) -> str:
    lines = []
    for e in _events(r, message, dag, task):
        ts = e["timestamp"][:19].replace("T", " ")
        level = e["level"].upper()
        for i, part in enumerate(str(e["event"]).split("\n")):
            lines.append(f"[{ts}] {level} - {part} source={e['logger']}" if i == 0 else part)
        for d in e.get("error_detail", []):
            lines.append("Traceback (most recent call last):")
            for f in d["frames"]:
                lines.append(f'  File "{f["filename"]}", line {f["lineno"]}, in {f["name"]}')
                lines.append("    result = callable()")
            lines.append(f"{d['exc_type']}: {d['exc_value']}")
    return "\n".join(lines)


def _airflow2_text(r: random.Random, message: str, dag: str, task: str) -> str:
    ts = f"[2024-0{r.randint(1, 9)}-{r.randint(10, 28)}, {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)} UTC]"
    head = [
        f"{ts} {{taskinstance.py:1157}} INFO - Dependencies all met for dep_context=requeueable deps ti=<TaskInstance: {dag}.{task} scheduled__2024-05-01T00:00:00+00:00 [queued]>",
        f"{ts} {{taskinstance.py:1359}} INFO - Starting attempt 1 of 2",
        f"{ts} {{taskinstance.py:1380}} INFO - Executing <Task(PythonOperator): {task}> on 2024-05-01 00:00:00+00:00",
        f"{ts} {{standard_task_runner.py:57}} INFO - Started process {r.randint(100, 99999)} to run task",
        f"{ts} {{logging_mixin.py:188}} INFO - {r.choice(_USER_LINES)}",
        f"{ts} {{taskinstance.py:1937}} ERROR - Task failed with exception",
        "Traceback (most recent call last):",
        '  File "/home/airflow/.local/lib/python3.8/site-packages/airflow/operators/python.py", line 192, in execute',
        "    return_value = self.execute_callable()",
        f'  File "/opt/airflow/dags/{dag}.py", line {r.randint(20, 200)}, in {task}',
        "    client.run()",
    ]
    tail = [
        f"{ts} {{taskinstance.py:1400}} INFO - Marking task as UP_FOR_RETRY. dag_id={dag}, task_id={task}, execution_date=20240501T000000, start_date=20240502T000102, end_date=20240502T000110",
        f"{ts} {{standard_task_runner.py:104}} ERROR - Failed to execute job {r.randint(100, 9999)} for task {task} (see log; {r.randint(100, 99999)})",
        f"{ts} {{local_task_job_runner.py:228}} INFO - Task exited with return code 1",
        f"{ts} {{taskinstance.py:2778}} INFO - 0 downstream tasks scheduled from follow-on schedule check",
    ]
    return "\n".join([*head, message, *tail])


def _pod_log(r: random.Random, message: str, dag: str, task: str) -> str:
    ts = f"[2026-11-{r.randint(10, 28)}, {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)} UTC]"
    pod = f"{task}-{r.randint(1000, 9999)}x{r.randint(10, 99)}"
    lines = [f"{ts} {{pod.py:1120}} INFO - Building pod {pod} with labels: {{'dag_id': '{dag}'}}",
             f"{ts} {{pod_manager.py:370}} INFO - Pod {pod} has phase Pending",
             f"{ts} {{pod_manager.py:370}} INFO - Pod {pod} has phase Running"]
    lines += [f"{ts} {{pod_manager.py:460}} INFO - [base] {part}" for part in message.split("\n")]
    lines += [f"{ts} {{pod_manager.py:480}} INFO - Pod {pod} has phase Failed",
              f"{ts} {{pod.py:980}} INFO - Deleting pod: {pod}",
              f"{ts} {{taskinstance.py:1937}} ERROR - Task failed with exception",
              "Traceback (most recent call last):",
              '  File "/home/airflow/.local/lib/python3.11/site-packages/airflow/providers/cncf/kubernetes/operators/pod.py", line 640, in execute',
              "    self.cleanup(pod=pod)",
              f"airflow.exceptions.AirflowException: Pod {pod} returned a failure.",
              f"{ts} {{taskinstance.py:1400}} INFO - Marking task as FAILED. dag_id={dag}, task_id={task}"]
    return "\n".join(lines)


def _noisy_user(r: random.Random, message: str, dag: str, task: str) -> str:
    """A chatty task: hundreds of progress lines and a deprecation warning before the failure."""
    ts = "2026-11-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z"
    out = []
    for i in range(r.randint(150, 400)):
        line = r.choice(_USER_LINES).replace("3", str(i % 10))
        out.append({"event": line, "level": "info", "logger": "task.stdout"})
        if i == 40:
            out.append({"event": "FutureWarning: the 'use_legacy_sql' argument is deprecated", "level": "warning",
                        "logger": "py.warnings"})
    exc_type, value = _exc_split(message)
    out.append({"event": "Task failed with exception", "level": "error", "logger": "task", "error_detail": [
        {"exc_type": exc_type, "exc_value": value, "is_cause": False,
         "frames": [{"filename": f"/opt/airflow/dags/{dag}.py", "lineno": 88, "name": task}]}]})
    out.append({"event": "Task instance state updated to failed", "level": "info", "logger": "task"})
    lines = []
    for i, e in enumerate(out):
        e["timestamp"] = ts.format(r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), i % 60, r.randint(0, 999999))
        lines.append(json.dumps(e))
    return "\n".join(lines)


def _cloud_logging(r: random.Random, message: str, dag: str, task: str) -> str:
    """Composer task logs as Cloud Logging exports them: severity, then the text."""
    stamp = f"2026-11-{r.randint(10, 28)} {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100, 999)} UTC"
    lines = [f"{stamp} INFO Worker picked up {dag}.{task} (try 1 of 3)",
             f"{stamp} INFO Setting up connection google_cloud_default",
             f"{stamp} INFO {r.choice(_USER_LINES)}"]
    lines += [f"{stamp} ERROR {part}" for part in message.split("\n")]
    lines += [f"{stamp} INFO Task {dag}.{task} finished with state failed",
              f"{stamp} INFO Uploading task log to gs://us-central1-composer-bucket/logs"]
    return "\n".join(lines)


def _aftermath(r: random.Random, message: str, dag: str, task: str) -> str:
    """Error-worded lines around the failure that are not its cause: settings before, alerts after."""
    ts = f"[2026-11-{r.randint(10, 28)}T{r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100, 999)}+0000]"
    exc_type, value = _exc_split(message)
    lines = [f"{ts} {{runner.py:88}} INFO - execution_timeout for {task} is 1:00:00, retries 0",
             f"{ts} {{runner.py:91}} INFO - on_failure_callback: notify_slack",
             f"{ts} {{logging_mixin.py:190}} INFO - {r.choice(_USER_LINES)}",
             f"{ts} {{runner.py:140}} ERROR - Task raised, see traceback",
             "Traceback (most recent call last):",
             f'  File "/opt/airflow/dags/{dag}.py", line {r.randint(20, 200)}, in {task}',
             "    run()",
             f"{exc_type}: {value}",
             f"{ts} {{runner.py:160}} ERROR - Failure callback notify_slack sent an alert to #data-alerts",
             f"{ts} {{runner.py:171}} WARNING - No retries left (0 of 0); not retrying",
             f"{ts} {{runner.py:180}} ERROR - Failed to upload the task log to gs://composer-logs: 403 Forbidden",
             f"{ts} {{runner.py:190}} INFO - Downstream tasks of {task} set to upstream_failed"]
    return "\n".join(lines)


def _af2_ui(r: random.Random, msg: str, dag: str, task: str) -> str:
    """Airflow 2.9+ as its UI shows a log: folded groups (the arrows), a traceback, the usual aftermath."""
    t = f"[2025-0{r.randint(1,9)}-1{r.randint(0,9)}, 0{r.randint(0,9)}:1{r.randint(0,9)}:2{r.randint(0,9)} UTC]"
    head = [f"{t} {{local_task_job_runner.py:123}} ▶ Pre task execution logs",
            f"{t} {{taskinstance.py:2614}} INFO - Dependencies all met for dep_context=non-requeueable deps ti=<TaskInstance: a.b manual__x [queued]>",
            f"{t} {{taskinstance.py:2867}} INFO - Starting attempt 1 of 1",
            f"{t} {{taskinstance.py:2890}} INFO - Executing <Task(PythonOperator): load> on 2025-06-01 00:00:00+00:00",
            f"{t} {{warnings.py:112}} WARNING - /home/airflow/.local/lib/python3.12/site-packages/airflow/task/task_runner/standard_task_runner.py:70: DeprecationWarning: This process (pid=2341) is multi-threaded, use of fork() may lead to deadlocks in the child.",
            f"{t} {{standard_task_runner.py:72}} INFO - Started process 2345 to run task",
            f"{t} {{standard_task_runner.py:104}} INFO - Running: ['airflow', 'tasks', 'run', 'a', 'load', 'manual__x', '--job-id', '9', '--raw', '--subdir', 'DAGS_FOLDER/a.py', '--cfg-path', '/tmp/tmpx']",
            f"{t} {{task_command.py:467}} INFO - Running <TaskInstance: a.load manual__x [running]> on host 1f2e3d",
            f"{t} {{taskinstance.py:3134}} INFO - Exporting env vars: AIRFLOW_CTX_DAG_OWNER='airflow' AIRFLOW_CTX_DAG_ID='a'",
            f"{t} {{taskinstance.py:731}} ▲▲▲ Log group end",
            f"{t} {{taskinstance.py:3311}} ERROR - Task failed with exception",
            "Traceback (most recent call last):",
            '  File "/home/airflow/.local/lib/python3.12/site-packages/airflow/models/taskinstance.py", line 767, in _execute_task',
            "    result = _execute_callable(context=context, **execute_callable_kwargs)",
            '  File "/opt/airflow/dags/a.py", line 22, in load',
            "    do()"]
    first = msg.split("\n",1)[0]
    body = msg if (":" in first.split(" ")[0] and first.split(":")[0].replace(".","").isalnum()) else "RuntimeError: " + msg
    tail = [f"{t} {{taskinstance.py:1225}} INFO - Marking task as FAILED. dag_id=a, task_id=load, run_id=manual__x, execution_date=20250601T000000, start_date=20250601T000001, end_date=20250601T000003",
            f"{t} {{taskinstance.py:341}} ▶ Post task execution logs",
            f"{t} {{standard_task_runner.py:124}} ERROR - Failed to execute job 9 for task load ({msg[:80]}; 2345)",
            f"{t} {{local_task_job_runner.py:266}} INFO - Task exited with return code 1",
            f"{t} {{taskinstance.py:3900}} INFO - 0 downstream tasks scheduled from follow-on schedule check"]
    return "\n".join(head + [body] + tail)

def _a3_sql(r: random.Random, msg: str, dag: str, task: str) -> str:
    """An Airflow 3 SQL task: hook lines, then the exception event."""
    ev = [{"timestamp": "2025-06-01T00:00:00.1Z", "event": e, "level": "info", "logger": lg} for e, lg in [
        ("DAG bundles loaded: dags-folder", "airflow.dag_processing.bundles.manager.DagBundlesManager"),
        ("Filling up the DagBag from /opt/airflow/dags/etl.py", "airflow.models.dagbag.DagBag"),
        ("Connection Retrieved 'warehouse'", "airflow.hooks.base"),
        ("Running statement: INSERT INTO sales SELECT * FROM staging, parameters: None", "airflow.task.hooks.airflow.providers.postgres.hooks.postgres.PostgresHook")]]
    exc, _, val = msg.partition(": ")
    if not exc.replace(".", "").replace("_","").isalnum() or " " in exc or not val:
        exc, val = "Exception", msg
    ev.append({"event": "Task failed with exception", "level": "error", "logger": "task",
               "error_detail": [{"exc_type": exc, "exc_value": val, "exc_notes": [], "syntax_error": None, "is_cause": False,
                                 "frames": [{"filename": "/opt/airflow/dags/etl.py", "lineno": 40, "name": "load"}], "is_group": False, "exceptions": []}]})
    ev += [{"event": e, "level": "info", "logger": "task"} for e in ("::group::Post Execute", "Sending email notification: on failure", "::endgroup::")]
    return "\n".join(json.dumps(e) for e in ev)

def _k8s_dump(r: random.Random, msg: str, dag: str, task: str) -> str:
    """KubernetesPodOperator: the pod's output, then the wrapper exception with the pod's status dump."""
    lines = ["[2025-06-01, 10:00:00 UTC] {pod_manager.py:410} INFO - [base] Starting job sales-export",
             "[2025-06-01, 10:00:00 UTC] {pod_manager.py:410} INFO - [base] Reading 3 input files"]
    lines += [f"[2025-06-01, 10:00:01 UTC] {{pod_manager.py:410}} INFO - [base] {p}" for p in msg.split("\n")]
    lines += ["[2025-06-01, 10:00:02 UTC] {pod_manager.py:620} INFO - Pod sales-export-x1y2 has phase Failed",
              "[2025-06-01, 10:00:02 UTC] {pod.py:1100} INFO - Deleting pod: sales-export-x1y2",
              "[2025-06-01, 10:00:02 UTC] {taskinstance.py:3311} ERROR - Task failed with exception",
              "Traceback (most recent call last):",
              '  File "/home/airflow/.local/lib/python3.12/site-packages/airflow/providers/cncf/kubernetes/operators/pod.py", line 650, in execute_sync',
              "    self.cleanup(",
              "airflow.exceptions.AirflowException: Pod sales-export-x1y2 returned a failure.",
              "remote_pod: {'api_version': 'v1', 'kind': 'Pod', 'metadata': {'name': 'sales-export-x1y2', 'namespace': 'default'}, 'status': {'phase': 'Failed', 'container_statuses': [{'state': {'terminated': {'exit_code': 1, 'reason': 'Error'}}}]}}",
              "[2025-06-01, 10:00:02 UTC] {taskinstance.py:1225} INFO - Marking task as FAILED. dag_id=k, task_id=export"]
    return "\n".join(lines)


SHAPES = {"airflow3_json": _airflow3_json, "airflow3_rendered": _airflow3_rendered,
          "airflow2_text": _airflow2_text, "pod_log": _pod_log, "noisy_user": _noisy_user,
          "cloud_logging": _cloud_logging, "aftermath": _aftermath, "af2_ui": _af2_ui, "a3_sql": _a3_sql,
          "k8s_dump": _k8s_dump}


def make_log(message: str, seed: int, shape: str | None = None) -> tuple[str, str]:
    """(shape name, log text) holding ``message``; the same for the same arguments."""
    r = random.Random(seed)
    name = shape or r.choice(sorted(SHAPES))
    return name, SHAPES[name](r, message, r.choice(_DAGS), r.choice(_TASKS))
