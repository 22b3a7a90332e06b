"""Error localisation: which lines of a failed try's log say why, in every log shape users meet."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_healer.core.logs import (
    BoilerplateMiner,
    classifier_text,
    compose,
    default_miner,
    is_wrapper,
    locate,
    looks_like_log,
    parse_log,
    read_tail,
)
from airflow_healer.core.logs.locate import MAX_CHARS, MAX_LINES

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TS = "[2024-05-01, 12:00:00 UTC]"
HOOK = "airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook"
BASH_WRAPPER = "Bash command failed. The command returned a non-zero exit code 28."
CURL = "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out"


def event(text: str, level: str = "info", logger: str = "task", **fields) -> dict:
    return {"timestamp": "2026-12-01T23:24:53.913028Z", "level": level, "event": text, "logger": logger,
            "ti_id": "0193a6c4-5b2e-7c4d-9f1a-2b3c4d5e6f70", "dag_id": "export_partners",
            "run_id": "scheduled__2026-12-01T00:00:00+00:00", "filename": "task_runner.py", "lineno": 1579, **fields}


def exc(exc_type: str, value: str, *, is_cause: bool = False) -> dict:
    return {"exc_type": exc_type, "exc_value": value, "exc_notes": [], "syntax_error": None, "is_cause": is_cause,
            "frames": [{"filename": "/x/task_runner.py", "lineno": 1579, "name": "run"}], "is_group": False,
            "exceptions": []}


def failure(*exceptions: dict) -> dict:
    return event("Task failed with exception", "error", error_detail=list(exceptions))


PRE_EXECUTE = [
    event("::group::Pre Execute"),
    event("DAG bundles loaded: dags-folder", logger="airflow.dag_processing.bundles.manager.DagBundlesManager"),
    event("Filling up the DagBag from /opt/airflow/dags/probe.py", logger="airflow.dag_processing.dagbag.BundleDagBag"),
    event("Worker startup parse complete"),
    event("::endgroup::"),
]
POST_EXECUTE = [event("::group::Post Execute"), event("::endgroup::")]
BASH_CURL = [
    *PRE_EXECUTE,
    event("Tmp dir root location: /tmp", logger=HOOK),
    event("Running command: ['/usr/bin/bash', '-c', 'curl -sf https://api.partner-exports.com/v2/export']", logger=HOOK),
    event("Output:", logger=HOOK),
    event("starting export", logger=HOOK),
    event(CURL, logger=HOOK),
    event("Command exited with return code 28", logger=HOOK),
    failure(exc("AirflowException", BASH_WRAPPER)),
    *POST_EXECUTE,
]
BASH_BOILERPLATE = ["DAG bundles loaded", "Filling up the DagBag", "Worker startup parse complete", "Tmp dir root",
                    "Running command", "Output:", "Command exited", "Task failed with exception", "::group::"]


def json_lines(events: list[dict]) -> str:
    return "\n".join(json.dumps(e) for e in events)


def texts(located) -> list[str]:
    return [line.text for line in located.lines]


def whys(located) -> dict[str, str]:
    return {line.text: line.why for line in located.lines}


# -- Airflow 3 structured events ------------------------------------------------------------------


@pytest.fixture
def bash_curl_located(tmp_path):
    path = tmp_path / "dag_id=export_partners" / "attempt=1.log"
    path.parent.mkdir()
    path.write_text(json_lines(BASH_CURL) + "\n")
    return locate(read_tail(path))


def test_a_bash_tasks_log_file_is_read_for_its_commands_last_words(bash_curl_located):
    assert whys(bash_curl_located) == {CURL: "error shape"}
    assert bash_curl_located.exception == f"AirflowException: {BASH_WRAPPER}"
    assert bash_curl_located.return_code == 28
    assert bash_curl_located.killed == ""
    assert bash_curl_located.total_lines == 11


@pytest.mark.parametrize("boilerplate", BASH_BOILERPLATE)
def test_airflows_own_lines_are_not_kept(bash_curl_located, boilerplate):
    assert boilerplate not in bash_curl_located.text


def test_the_wrapper_exception_is_not_what_the_classifier_reads(bash_curl_located):
    composed = compose(BASH_WRAPPER, bash_curl_located)
    assert composed == CURL
    assert "Bash command failed" not in composed
    assert classifier_text(json_lines(BASH_CURL)) == CURL


def test_the_apis_event_list_locates_like_the_file(bash_curl_located):
    content = [{"timestamp": None, "event": "::group::Log message source details",
                "sources": ["/opt/airflow/logs/dag_id=failed_exports/attempt=1.log"]},
               {"event": "* /opt/airflow/logs/dag_id=failed_exports/attempt=1.log"},
               {"timestamp": None, "event": "::endgroup::"}, *BASH_CURL]
    located = locate(content)
    assert texts(located) == texts(bash_curl_located) == [CURL]
    assert (located.exception, located.return_code) == (bash_curl_located.exception, 28)
    assert "failed_exports" not in located.text


CHAIN = [*PRE_EXECUTE, event("fetching page 3 of 40", logger="task.stdout"),
         failure(exc("RuntimeError", "fetch failed"),
                 exc("ConnectionResetError", "[Errno 104] Connection reset by peer", is_cause=True)),
         *POST_EXECUTE]


def test_a_chained_exception_keeps_the_cause_before_the_raised_one():
    located = locate(json_lines(CHAIN))
    assert [(line.text, line.why) for line in located.lines] == [
        ("ConnectionResetError: [Errno 104] Connection reset by peer", "exception"),
        ("RuntimeError: fetch failed", "exception"),
    ]
    assert located.exception == "RuntimeError: fetch failed"  # the last exception line: the one raised


def test_the_cause_follows_an_informative_message():
    composed = compose("fetch failed", locate(json_lines(CHAIN)))
    assert composed.startswith("fetch failed\n")
    assert "ConnectionResetError: [Errno 104] Connection reset by peer" in composed


def test_compose_does_not_repeat_the_message():
    composed = compose("fetch failed", locate(json_lines(CHAIN)))
    assert composed.count("fetch failed") == 1


def test_what_a_python_task_printed_is_read_when_it_raised_a_wrapper():
    log = [*PRE_EXECUTE,
           event("Connecting to warehouse", logger="task.stdout"),
           event("ERROR: permission denied for table orders", logger="task.stdout"),
           failure(exc("AirflowException", "Job failed")), *POST_EXECUTE]
    located = locate(log)
    assert whys(located) == {"ERROR: permission denied for table orders": "error shape"}
    assert compose("Job failed", located) == "ERROR: permission denied for table orders"


def test_an_informative_message_comes_first_and_the_log_adds_what_it_lacks():
    log = [*PRE_EXECUTE,
           event("WARNING: pool exhausted, waiting for a connection", "warning", logger="task.stdout"),
           failure(exc("OperationalError", "Login failed for user 'etl'")), *POST_EXECUTE]
    composed = compose("Login failed for user 'etl'", locate(log))
    assert composed.splitlines()[0] == "Login failed for user 'etl'"
    assert "WARNING: pool exhausted, waiting for a connection" in composed


def test_a_task_killed_by_sigkill():
    oom = event("Process terminated by signal. Likely out of memory error (OOM). For more information, see "
                "https://airflow.apache.org/docs/apache-airflow/stable/troubleshooting.html"
                "#process-terminated-by-signal.", "critical", signal=-9, signal_name="SIGKILL")
    located = locate(json_lines([*PRE_EXECUTE, event("allocating 48 GB", logger="task.stdout"), oom]))
    assert located.killed == "killed by SIGKILL (likely out of memory, OOM)"
    assert located.return_code == -9
    assert [line.why for line in located.lines] == ["error level"]
    assert located.lines[0].text.startswith("Process terminated by signal.")
    assert located.exception == ""
    assert "log: killed by SIGKILL (likely out of memory, OOM)" in located.evidence()


# -- Airflow 2 text logs --------------------------------------------------------------------------

AIRFLOW2_CHAIN = f"""{TS} {{taskinstance.py:1157}} INFO - Dependencies all met for dep_context=requeueable deps ti=<TaskInstance: etl.load scheduled__2024-05-01T00:00:00+00:00 [queued]>
{TS} {{taskinstance.py:1359}} INFO - Starting attempt 1 of 2
{TS} {{taskinstance.py:1380}} INFO - Executing <Task(PythonOperator): load> on 2024-05-01 00:00:00+00:00
{TS} {{standard_task_runner.py:57}} INFO - Started process 4242 to run task
{TS} {{logging_mixin.py:188}} INFO - Connecting to warehouse
{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception
Traceback (most recent call last):
  File "/usr/local/lib/python3.8/site-packages/psycopg2/__init__.py", line 122, in connect
    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)
psycopg2.OperationalError: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "etl"

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/usr/local/lib/python3.8/site-packages/sqlalchemy/engine/base.py", line 3280, in _wrap_pool_connect
    return fn()
sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection failed

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/opt/airflow/dags/etl.py", line 40, in load
    raise AirflowException("Task failed")
airflow.exceptions.AirflowException: Task failed
{TS} {{taskinstance.py:1400}} INFO - Marking task as UP_FOR_RETRY. dag_id=etl, task_id=load, execution_date=20240501T000000, start_date=20240502T000102, end_date=20240502T000110
{TS} {{standard_task_runner.py:104}} ERROR - Failed to execute job 77 for task load (Task failed; 4242)
{TS} {{local_task_job_runner.py:228}} INFO - Task exited with return code 1
{TS} {{taskinstance.py:2778}} INFO - 0 downstream tasks scheduled from follow-on schedule check"""

PSYCOPG = ('psycopg2.OperationalError: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password '
           'authentication failed for user "etl"')
SQLALCHEMY = "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection failed"


def test_an_airflow2_traceback_chain_keeps_its_exceptions_not_its_scaffolding():
    located = locate(AIRFLOW2_CHAIN)
    assert whys(located) == {PSYCOPG: "exception", SQLALCHEMY: "exception"}
    assert located.exception == "airflow.exceptions.AirflowException: Task failed"
    assert located.return_code == 1
    assert located.killed == ""


@pytest.mark.parametrize("gone", ["Traceback", "direct cause", "During handling", 'File "', "return fn()",
                                  "AirflowException", "Marking task as", "Failed to execute job", "Starting attempt",
                                  "downstream tasks"])
def test_an_airflow2_log_drops_its_scaffolding_and_boilerplate(gone):
    assert gone not in locate(AIRFLOW2_CHAIN).text


def test_the_airflow2_cause_replaces_the_wrapper_for_the_classifier():
    composed = compose("Task failed", locate(AIRFLOW2_CHAIN))
    assert composed == f"{PSYCOPG}\n{SQLALCHEMY}"
    assert looks_like_log(AIRFLOW2_CHAIN)
    assert classifier_text(AIRFLOW2_CHAIN) == composed


# -- Beam / Dataflow Java traces ------------------------------------------------------------------

BEAM = f"""{TS} {{beam.py:130}} INFO - Running command: java -jar /tmp/pipeline.jar --runner=DataflowRunner
{TS} {{beam.py:150}} INFO - Start waiting for Apache Beam process to complete.
{TS} {{beam.py:116}} WARNING - Exception in thread "main" org.apache.beam.sdk.Pipeline$PipelineExecutionException: java.lang.RuntimeException: Failed to create a workflow job
\tat org.apache.beam.sdk.Pipeline.run(Pipeline.java:329)
\tat com.example.Export.main(Export.java:88)
Caused by: java.lang.RuntimeException: Failed to create a workflow job
\tat org.apache.beam.runners.dataflow.DataflowRunner.run(DataflowRunner.java:1402)
\t... 3 more
Caused by: com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden
POST https://dataflow.googleapis.com/v1b3/projects/acme/locations/us-central1/jobs
{{"code": 403, "message": "Permission 'dataflow.jobs.create' denied on project: 'acme'"}}
\tat com.google.api.client.googleapis.json.GoogleJsonResponseException.from(GoogleJsonResponseException.java:146)
\t... 12 more
{TS} {{beam.py:170}} INFO - Process exited with return code: 1
{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception
Traceback (most recent call last):
  File "/home/airflow/.local/lib/python3.8/site-packages/airflow/providers/apache/beam/hooks/beam.py", line 200, in run_beam_command
    raise AirflowException(f"Apache Beam process failed with return code {{proc.returncode}}")
airflow.exceptions.AirflowException: Apache Beam process failed with return code 1
{TS} {{taskinstance.py:1400}} INFO - Marking task as FAILED. dag_id=etl, task_id=load, execution_date=20240501T000000, start_date=20240502T000102, end_date=20240502T000110"""


def test_a_java_trace_keeps_its_caused_by_chain_not_its_frames():
    located = locate(BEAM)
    kept = whys(located)
    assert kept["Caused by: java.lang.RuntimeException: Failed to create a workflow job"] == "exception"
    assert kept["Caused by: com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden"] == \
        "exception"
    assert "Permission 'dataflow.jobs.create' denied on project" in located.text
    assert not any(t.lstrip().startswith(("at ", "...")) for t in texts(located))
    assert located.exception == "airflow.exceptions.AirflowException: Apache Beam process failed with return code 1"
    assert located.return_code == 1


def test_the_beam_wrapper_gives_way_to_the_java_cause():
    composed = compose("Apache Beam process failed with return code 1", locate(BEAM))
    assert "Apache Beam process failed" not in composed
    assert "403 Forbidden" in composed


# -- Spark log4j driver output --------------------------------------------------------------------

SPARK_WRAPPER = "Cannot execute: spark-submit --master yarn --name etl /opt/jobs/etl.py. Error code is: 1."
SPARK = f"""{TS} {{spark_submit.py:351}} INFO - Spark-Submit cmd: spark-submit --master yarn --deploy-mode client --name etl /opt/jobs/etl.py
{TS} {{spark_submit.py:502}} INFO - 24/05/01 12:00:01 INFO SparkContext: Running Spark version 3.5.1
{TS} {{spark_submit.py:502}} INFO - 24/05/01 12:00:03 INFO SparkContext: Submitted application: etl
{TS} {{spark_submit.py:502}} INFO - 24/05/01 12:00:09 WARN TaskSetManager: Lost task 3.0 in stage 2.0 (TID 41) (10.0.0.7 executor 2): java.lang.OutOfMemoryError: Java heap space
{TS} {{spark_submit.py:502}} INFO - 24/05/01 12:00:12 ERROR TaskSetManager: Task 3 in stage 2.0 failed 4 times; aborting job
{TS} {{spark_submit.py:502}} INFO - Traceback (most recent call last):
{TS} {{spark_submit.py:502}} INFO -   File "/opt/jobs/etl.py", line 40, in <module>
{TS} {{spark_submit.py:502}} INFO -     df.write.parquet(out)
{TS} {{spark_submit.py:502}} INFO - py4j.protocol.Py4JJavaError: An error occurred while calling o88.parquet.
{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception
Traceback (most recent call last):
  File "/home/airflow/.local/lib/python3.8/site-packages/airflow/providers/apache/spark/operators/spark_submit.py", line 157, in execute
    self._hook.submit(self.application)
airflow.exceptions.AirflowException: {SPARK_WRAPPER}
{TS} {{taskinstance.py:1400}} INFO - Marking task as FAILED. dag_id=etl, task_id=load, execution_date=20240501T000000, start_date=20240502T000102, end_date=20240502T000110"""


def test_a_spark_driver_log_keeps_the_executor_failure():
    located = locate(SPARK)
    kept = whys(located)
    oom = ("24/05/01 12:00:09 WARN TaskSetManager: Lost task 3.0 in stage 2.0 (TID 41) (10.0.0.7 executor 2): "
           "java.lang.OutOfMemoryError: Java heap space")
    assert kept[oom] == "error shape"
    assert kept["24/05/01 12:00:12 ERROR TaskSetManager: Task 3 in stage 2.0 failed 4 times; aborting job"] == \
        "error shape"
    for gone in ("Running Spark version", "Submitted application", "Py4JJavaError: An error occurred", "df.write"):
        assert gone not in located.text
    assert located.exception == f"airflow.exceptions.AirflowException: {SPARK_WRAPPER}"


def test_the_spark_submit_wrapper_gives_way_to_the_drivers_log():
    composed = compose(SPARK_WRAPPER, locate(SPARK))
    assert "Cannot execute" not in composed
    assert "java.lang.OutOfMemoryError: Java heap space" in composed


def test_the_spark_submit_return_code_is_read():
    assert locate(SPARK).return_code == 1


# -- Kubernetes pod logs --------------------------------------------------------------------------

POD = "etl-load-8f3k2"
POD_LOG = f"""{TS} {{pod.py:1120}} INFO - Building pod {POD} with labels: {{'dag_id': 'etl', 'task_id': 'load'}}
{TS} {{pod_manager.py:370}} INFO - Pod {POD} has phase Pending
{TS} {{pod_manager.py:370}} INFO - Pod {POD} has phase Running
{TS} {{pod_manager.py:460}} INFO - [base] Reading s3://acme-raw/2026/11/20/
{TS} {{pod_manager.py:460}} INFO - [base] botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the GetObject operation: Access Denied
{TS} {{pod_manager.py:480}} INFO - Pod {POD} has phase Failed
{TS} {{pod.py:980}} INFO - Deleting pod: {POD}
{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception
Traceback (most recent call last):
  File "/home/airflow/.local/lib/python3.11/site-packages/airflow/providers/cncf/kubernetes/operators/pod.py", line 640, in execute
    self.cleanup(pod=pod)
airflow.exceptions.AirflowException: Pod {POD} returned a failure.
{TS} {{taskinstance.py:1400}} INFO - Marking task as FAILED. dag_id=etl, task_id=load"""
POD_CAUSE = ("[base] botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the GetObject "
             "operation: Access Denied")


def test_a_pod_log_keeps_the_containers_error_not_the_operators_wrapper():
    located = locate(POD_LOG)
    assert texts(located) == [POD_CAUSE]
    assert located.exception == f"airflow.exceptions.AirflowException: Pod {POD} returned a failure."
    assert compose(f"Pod {POD} returned a failure.", located) == POD_CAUSE


def test_a_pod_killed_for_memory():
    log = (f"{TS} {{pod_manager.py:480}} INFO - Pod {POD} has phase Failed\n"
           f"{TS} {{pod.py:700}} ERROR - container base terminated: reason=OOMKilled exit_code=137\n"
           f"{TS} {{pod.py:980}} INFO - Deleting pod: {POD}")
    located = locate(log)
    assert (located.killed, located.return_code) == ("killed for running out of memory (OOM)", 137)
    assert whys(located) == {"container base terminated: reason=OOMKilled exit_code=137": "error level"}


# -- dbt ------------------------------------------------------------------------------------------


def dbt_log(macros: int) -> str:
    out = [
        "12:00:01  Running with dbt=1.7.4",
        f"12:00:02  Found 12 models, 30 tests, 0 snapshots, 0 analyses, {macros} macros",
        "12:00:03  Concurrency: 4 threads (target='prod')",
        "12:00:04  1 of 12 START sql table model analytics.orders ............ [RUN]",
        "12:00:09  1 of 12 ERROR creating sql table model analytics.orders ... [ERROR in 5.01s]",
        "12:00:10  Finished running 12 table models in 0 hours 0 minutes and 9.12 seconds (9.12s).",
        "12:00:10  Completed with 1 error and 0 warnings:",
        "12:00:10  Database Error in model orders (models/marts/orders.sql)",
        '12:00:10    column "customer_idd" does not exist',
        "12:00:10    compiled Code at target/run/analytics/models/marts/orders.sql",
        "12:00:10  Done. PASS=11 WARN=0 ERROR=1 SKIP=0 TOTAL=12",
    ]
    return "\n".join([*(f"{TS} {{subprocess.py:93}} INFO - {line}" for line in out),
                      f"{TS} {{subprocess.py:97}} INFO - Command exited with return code 1",
                      f"{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception",
                      "airflow.exceptions.AirflowException: Bash command failed. The command returned a non-zero "
                      "exit code 1."])


def test_a_dbt_run_keeps_its_error_summary():
    located = locate(dbt_log(macros=389))
    kept = whys(located)
    assert kept["12:00:10  Database Error in model orders (models/marts/orders.sql)"] == "error shape"
    assert kept['12:00:10    column "customer_idd" does not exist'] == "error shape"
    assert kept["12:00:10  Completed with 1 error and 0 warnings:"] == "error shape"
    for gone in ("Running with dbt", "Found 12 models", "Concurrency", "START sql table", "Bash command failed"):
        assert gone not in located.text
    assert located.return_code == 1


def test_a_count_between_400_and_599_is_not_an_error():
    assert "Found 12 models" not in locate(dbt_log(macros=412)).text


# -- heartbeat timeouts and state set from outside ------------------------------------------------

STARTED = (f"{TS} {{taskinstance.py:1359}} INFO - Starting attempt 1 of 2\n"
           f"{TS} {{logging_mixin.py:188}} INFO - Processing batch 3 of 12\n")
EXTERNALLY_SET = (f"{TS} {{local_task_job_runner.py:302}} WARNING - State of this instance has been externally set "
                  "to failed. Terminating instance.")


def test_a_state_set_from_outside_is_what_killed_the_task():
    located = locate(STARTED + EXTERNALLY_SET)
    assert located.killed == "its state was set from outside (by hand or through the API) and Airflow stopped it"
    assert "externally set" not in located.text  # Airflow's own line: the reason is in `killed`
    assert [(line.text, line.why) for line in located.lines] == [("Processing batch 3 of 12", "tail")]


def test_an_airflow2_zombie_is_a_heartbeat_timeout():
    log = STARTED + (f"{TS} {{scheduler_job_runner.py:1760}} ERROR - Detected zombie job: {{'full_filepath': "
                     "'/opt/airflow/dags/etl.py', 'msg': 'Detected <TaskInstance: etl.load scheduled__2024 "
                     "[running]> as zombie'}")
    assert locate(log).killed == "heartbeat timeout: the task stopped reporting and the scheduler failed it"


def test_the_sigterm_that_follows_an_external_state_does_not_hide_it():
    log = STARTED + EXTERNALLY_SET + "\n" + (
        f"{TS} {{process_utils.py:131}} INFO - Sending Signals.SIGTERM to group 1234. PIDs of all processes in the "
        "group: [1234]\n"
        f"{TS} {{taskinstance.py:2480}} ERROR - Received SIGTERM. Terminating subprocesses.\n"
        f"{TS} {{local_task_job_runner.py:228}} INFO - Task exited with return code 143")
    assert "from outside" in locate(log).killed


def test_an_airflow3_state_set_from_outside_is_what_killed_the_task():
    log = [event("Processing batch 3 of 12", logger="task.stdout"),
           event("Server indicated the task shouldn't be running anymore. Terminating process", "error",
                 logger="supervisor", detail={"reason": "not_running", "current_state": "failed",
                                              "message": "TI is no longer in the 'running' state. Task state might "
                                                         "be externally set and task should terminate"}),
           event("Task killed!", "error", logger="supervisor")]
    assert "from outside" in locate(log).killed


def test_an_airflow3_task_without_a_heartbeat_is_a_heartbeat_timeout():
    log = STARTED + (f"{TS} {{scheduler_job_runner.py:2110}} ERROR - Detected a task instance without a heartbeat: "
                     "<TaskInstance: etl.load manual__2026-12-01T00:00:00+00:00 [running]> (See https://airflow."
                     "apache.org/docs/apache-airflow/stable/core-concepts/tasks.html#task-instance-heartbeat-timeout)")
    assert locate(log).killed.startswith("heartbeat timeout")


# -- what is kept, and how much -------------------------------------------------------------------


def test_a_log_with_no_telling_line_gives_its_last_lines():
    log = "\n".join(f"{TS} {{x.py:1}} INFO - step {i} ok" for i in range(50))
    located = locate(log)
    assert texts(located) == [f"step {i} ok" for i in range(40, 50)]
    assert {line.why for line in located.lines} == {"tail"}


def test_a_log_with_only_a_wrapper_keeps_the_wrapper():
    log = (f"{TS} {{x.py:1}} INFO - Starting attempt 1 of 2\n{TS} {{taskinstance.py:1937}} ERROR - Task failed "
           f"with exception\nairflow.exceptions.AirflowException: Job failed\n{TS} {{x.py:1}} INFO - Task exited "
           "with return code 1")
    located = locate(log)
    assert whys(located) == {"airflow.exceptions.AirflowException: Job failed": "wrapper"}
    assert located.evidence() == ["log line 3 (wrapper): airflow.exceptions.AirflowException: Job failed",
                                  "log: return code 1"]


def test_a_multi_line_message_keeps_its_continuation_lines():
    log = (f"{TS} {{x.py:1}} INFO - Starting\n{TS} {{x.py:1}} ERROR - Query failed:\n  SELECT * FROM orders\n"
           f"  WHERE dt = '2026-11-30'\n{TS} {{x.py:1}} INFO - cleanup\n{TS} {{x.py:1}} INFO - cleanup 2\n"
           f"{TS} {{x.py:1}} INFO - cleanup 3")
    assert [(line.text, line.why) for line in locate(log).lines] == [
        ("Query failed:", "error level"), ("  SELECT * FROM orders", "context"),
        ("  WHERE dt = '2026-11-30'", "context")]


def test_many_errors_keep_the_ones_nearest_the_end_within_budget():
    log = "\n".join(f"{TS} {{x.py:1}} ERROR - row {i} rejected: customer_id is null" for i in range(200))
    located = locate(log)
    assert len(located.lines) == MAX_LINES
    assert located.lines[-1].text == "row 199 rejected: customer_id is null"
    assert located.lines[0].text == f"row {200 - MAX_LINES} rejected: customer_id is null"


@pytest.mark.parametrize("max_lines, max_chars", [(1, 3000), (5, 3000), (30, 100), (30, 10)])
def test_the_budget_is_held(max_lines, max_chars):
    log = "\n".join(f"{TS} {{x.py:1}} ERROR - upload {i} failed: {'x' * (i % 90)}" for i in range(100))
    located = locate(log, max_lines=max_lines, max_chars=max_chars)
    assert 1 <= len(located.lines) <= max_lines
    assert len(located.text) <= max_chars + len(located.lines)
    assert located.lines[-1].text.startswith("upload 99"[:max_chars])


def test_a_deployments_own_boilerplate_learnt_from_successful_logs_is_dropped():
    log = (f"{TS} {{x.py:1}} INFO - Progress: 97% (9700/10000)\n"
           f"{TS} {{x.py:1}} INFO - Uploading part-00099.parquet (3.1 MB)\n"
           f"{TS} {{x.py:1}} ERROR - upload rejected: bucket quota exceeded\n"
           f"{TS} {{x.py:1}} INFO - Progress: 98% (9800/10000)")
    assert "Progress: 98% (9800/10000)" in locate(log).text
    miner = default_miner()
    miner.learn(["Progress: 45% (4500/10000)", "Progress: 46% (4600/10000)", "Uploading part-00017.parquet (12.4 MB)"])
    located = locate(log, miner=miner)
    assert texts(located) == ["upload rejected: bucket quota exceeded"]
    assert located.boilerplate == 3


def test_an_empty_miner_is_used_as_given():
    located = locate(json_lines(BASH_CURL), miner=BoilerplateMiner())
    assert located.boilerplate == 0


def test_a_miner_that_is_given_replaces_the_shipped_templates():
    miner = BoilerplateMiner()
    miner.learn(["Output:"])
    located = locate(json_lines(BASH_CURL), miner=miner)
    assert located.boilerplate == 1
    assert texts(located) == [CURL]  # the wrappers still give way


def test_located_as_dict_is_what_an_incident_shows(bash_curl_located):
    assert bash_curl_located.as_dict() == {
        "lines": [{"line": 8, "text": CURL, "why": "error shape"}], "total_lines": 11, "boilerplate": 8,
        "exception": f"AirflowException: {BASH_WRAPPER}", "return_code": 28, "killed": ""}


# -- is_wrapper, compose, classifier_text ---------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        BASH_WRAPPER,
        "AirflowException: Bash command failed. The command returned a non-zero exit code 1.",
        "Job failed",
        "Pod returned a failure.",
        f"Pod {POD} returned a failure.",
        "Pod failed",
        "Command '['dbt', 'run']' returned non-zero exit status 1.",
        "subprocess.CalledProcessError: Command 'x' returned non-zero exit status 2.",
        "Task failed with exception",
        "Task failed with no captured error",
        "The task failed without a Python exception",
        "Apache Beam process failed with return code 1",
        "Process exited with return code: 1",
        "dbt command failed",
        "SSH operator error: exit status = 1",
        "Something went wrong, see the logs for details",
        "An error occurred",
        "Unknown error",
        "Error",
        "",
        "   ",
        None,
        SPARK_WRAPPER,
    ],
)
def test_wrappers_name_no_cause(message):
    assert is_wrapper(message)


@pytest.mark.parametrize(
    "message",
    [
        "Login failed for user 'etl'",
        "[Errno 28] No space left on device",
        "Connection reset by peer",
        "403 Forbidden: Access Denied",
        "psycopg2.OperationalError: could not connect to server: Connection refused",
        "Job failed: quota exceeded for project acme",
        "Pod etl-load returned a failure: OOMKilled",
        'column "customer_idd" does not exist',
        "ValueError: invalid literal for int() with base 10: 'abc'",
        "KeyError: 'customer_id'",
        "Query failed: Table not found: orders",
        CURL,
        "x" * 500,
    ],
)
def test_informative_messages_are_not_wrappers(message):
    assert not is_wrapper(message)


def test_compose_reads_the_texts_an_incident_stores_like_a_located():
    for log, message in ((json_lines(BASH_CURL), BASH_WRAPPER), (json_lines(CHAIN), "fetch failed")):
        located = locate(log)
        assert compose(message, [line["text"] for line in located.as_dict()["lines"]]) == compose(message, located)
    assert compose(BASH_WRAPPER, []) == BASH_WRAPPER


def test_locate_takes_lines_already_parsed():
    assert locate(parse_log(AIRFLOW2_CHAIN)) == locate(AIRFLOW2_CHAIN)


def test_compose_without_located_lines_is_the_message():
    assert compose(BASH_WRAPPER, None) == BASH_WRAPPER
    assert compose(BASH_WRAPPER, locate("")) == BASH_WRAPPER


def test_compose_gives_at_most_max_extra_lines_after_an_informative_message():
    log = "\n".join(f"{TS} {{x.py:1}} ERROR - row {i} rejected: customer_id is null" for i in range(20))
    composed = compose("ValueError: 20 rows rejected", locate(log), max_extra_lines=3)
    assert composed.splitlines() == ["ValueError: 20 rows rejected", *(f"row {i} rejected: customer_id is null"
                                                                        for i in (17, 18, 19))]


@pytest.mark.parametrize(
    "text, is_log",
    [
        ("Login failed for user 'etl'", False),
        ('Traceback (most recent call last):\n  File "/x.py", line 1, in <module>\n    f()\nValueError: bad', False),
        ("line one\nline two\nline three", False),
        (AIRFLOW2_CHAIN, True),
        (json_lines(BASH_CURL), True),
        (f"{TS} {{x.py:1}} INFO - Starting attempt 1 of 2\n{TS} {{x.py:1}} ERROR - boom\nValueError: boom", True),
        (SPARK, True),
        (POD_LOG, True),
    ],
    ids=["message", "traceback", "plain-lines", "airflow2", "airflow3-json", "two-framed-lines", "spark", "pod"],
)
def test_only_logs_are_localised(text, is_log):
    assert looks_like_log(text) is is_log
    if not is_log:
        assert classifier_text(text) == text


# -- never raises, bounded ------------------------------------------------------------------------

_POOL = [CURL, "Traceback (most recent call last):", '  File "/x.py", line 3, in f', "    g()",
         "ValueError: " + "bad value " * 80, "\tat a.b.C.m(C.java:1)", "Caused by: java.io.IOException: Broken pipe",
         f"{TS} {{taskinstance.py:1937}} ERROR - Task failed with exception", "Command exited with return code 137",
         "OOMKilled", "E" * 2500, json.dumps(failure(exc("RuntimeError", "x" * 3000))), "", "   "]
_LINES = st.lists(st.sampled_from(_POOL) | st.text(max_size=300), max_size=200)
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=80)
_DICTS = st.dictionaries(st.sampled_from(["event", "level", "logger", "signal", "return_code", "message"])
                         | st.text(max_size=8), _SCALARS | st.lists(_SCALARS, max_size=3), max_size=6)


def _bounded(located) -> None:
    assert len(located.lines) <= MAX_LINES
    assert len(located.text) <= MAX_CHARS + MAX_LINES
    assert located.total_lines >= len(located.lines)


@FAST
@given(st.binary(max_size=20_000))
def test_any_bytes_locate_bounded(blob):
    _bounded(locate(blob))


@FAST
@given(st.text(max_size=5_000))
def test_any_text_locates_bounded(text):
    _bounded(locate(text))
    assert isinstance(classifier_text(text), str)


@FEW
@given(_LINES)
def test_any_mix_of_log_lines_locates_bounded(lines):
    log = "\n".join(lines)
    _bounded(locate(log))
    assert isinstance(compose("Job failed", locate(log)), str)


@FEW
@given(st.lists(_DICTS, max_size=30))
def test_any_list_of_dicts_locates_bounded(items):
    _bounded(locate(items))


def test_two_framed_lines_one_a_folding_marker_do_not_break_log_detection():
    from airflow_healer.core.logs import classifier_text

    text = ("[2026-01-01, 00:00:00 UTC] {taskinstance.py:1} INFO - ::group::Pre task execution logs\n"
            "Read timed out (read timeout=30)\n"
            "[2026-01-01, 00:00:01 UTC] {taskinstance.py:2} ERROR - Task failed with exception")
    assert looks_like_log(text)
    assert "Read timed out" in classifier_text(text)
