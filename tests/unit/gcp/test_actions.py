"""The client calls that heal external jobs: the exact requests, the races, the refusals."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, dataflow_v1beta3
from google.cloud.workflows import executions_v1
from google.protobuf import field_mask_pb2

from airflow_healer.gcp.actions import (
    relaunch_dataflow,
    relaunch_name,
    rerun_bigquery,
    rerun_workflow,
    update_dataflow_workers,
)
from airflow_healer.gcp.jobs import FAILED, RUNNING, SUCCEEDED, ExternalJob

PROJECT, LOCATION = "acme-prod", "us-central1"
WORKFLOW = f"projects/{PROJECT}/locations/{LOCATION}/workflows/orders"


def external(job_type="dataflow", job_id="2026-05-01_04_00_00-123", *, name="nightly-orders", status=FAILED,
             state="JOB_STATE_FAILED", location=LOCATION, **details):
    return ExternalJob(job_type=job_type, job_id=job_id, job_name=name, status=status, state=state, project=PROJECT,
                       location=location, changed_at="2026-05-01T04:30:00.000000Z", details=details)


# -- Dataflow relaunch --------------------------------------------------------------------------------

LABELS = {"healer-origin": "nightly-orders", "healer-relaunch-of": "2026-05-01_04_00_00-123",
          "healer-attempt": "2"}


def test_a_classic_template_is_relaunched_on_the_rung_under_a_deterministic_name(mocker):
    client = mocker.create_autospec(dataflow_v1beta3.TemplatesServiceClient, instance=True)
    client.launch_template.return_value = dataflow_v1beta3.LaunchTemplateResponse(job=dataflow_v1beta3.Job(id="new-1"))
    rule = {"template": "gs://acme-templates/orders", "parameters": {"day": "2026-05-01", "shards": 8}}
    started = relaunch_dataflow(external(), rule, {"machine_type": "n2-highmem-8", "max_workers": 40},
                                attempt=2, client=client)
    assert started == "new-1"
    client.launch_template.assert_called_once_with(request=dataflow_v1beta3.LaunchTemplateRequest(
        project_id=PROJECT, location=LOCATION, gcs_path="gs://acme-templates/orders",
        launch_parameters=dataflow_v1beta3.LaunchTemplateParameters(
            job_name="nightly-orders-healer-2", parameters={"day": "2026-05-01", "shards": "8"},
            environment=dataflow_v1beta3.RuntimeEnvironment(machine_type="n2-highmem-8", max_workers=40,
                                                            additional_user_labels=LABELS))))


def test_a_flex_template_is_relaunched_with_its_spec_and_environment(mocker):
    client = mocker.create_autospec(dataflow_v1beta3.FlexTemplatesServiceClient, instance=True)
    client.launch_flex_template.return_value = dataflow_v1beta3.LaunchFlexTemplateResponse(
        job=dataflow_v1beta3.Job(id="new-2"))
    rule = {"flex_template": "gs://acme-templates/orders.json", "parameters": {"day": "2026-05-01"}}
    assert relaunch_dataflow(external(), rule, {"num_workers": 4, "max_workers": 10, "machine_type": "n2-standard-8"},
                             attempt=2, client=client) == "new-2"
    client.launch_flex_template.assert_called_once_with(request=dataflow_v1beta3.LaunchFlexTemplateRequest(
        project_id=PROJECT, location=LOCATION, launch_parameter=dataflow_v1beta3.LaunchFlexTemplateParameter(
            job_name="nightly-orders-healer-2", container_spec_gcs_path="gs://acme-templates/orders.json",
            parameters={"day": "2026-05-01"}, environment=dataflow_v1beta3.FlexTemplateRuntimeEnvironment(
                num_workers=4, max_workers=10, machine_type="n2-standard-8", additional_user_labels=LABELS))))


@pytest.mark.parametrize("name, attempt, expected", [
    ("nightly-orders", 1, "nightly-orders-healer-1"),
    ("nightly-orders-healer-1", 2, "nightly-orders-healer-2"),  # replaced, not stacked
    ("Orders_Daily.v2", 1, "orders-daily-v2-healer-1"),
    ("2026-backfill", 3, "job-2026-backfill-healer-3"),
    ("x" * 1100, 12, "x" * (1024 - len("-healer-12")) + "-healer-12"),
])
def test_relaunch_names_are_deterministic_and_valid_dataflow_names(name, attempt, expected):
    import re

    assert relaunch_name(name, attempt) == expected
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?", expected)


def test_a_relaunch_of_a_relaunch_keeps_the_name_its_rule_matched(mocker):
    client = mocker.create_autospec(dataflow_v1beta3.TemplatesServiceClient, instance=True)
    client.launch_template.return_value = dataflow_v1beta3.LaunchTemplateResponse(job=dataflow_v1beta3.Job(id="n3"))
    job = external(job_id="j2", name="nightly-orders-healer-2")
    job.labels = {"healer-origin": "nightly-orders"}
    relaunch_dataflow(job, {"template": "gs://t/orders"}, {}, attempt=3, client=client)
    params = client.launch_template.call_args.kwargs["request"].launch_parameters
    assert params.job_name == "nightly-orders-healer-3"
    assert dict(params.environment.additional_user_labels) == {
        "healer-origin": "nightly-orders", "healer-relaunch-of": "j2", "healer-attempt": "3"}


def test_a_racing_healer_whose_launch_finds_the_name_taken_returns_the_active_job(mocker):
    client = mocker.create_autospec(dataflow_v1beta3.TemplatesServiceClient, instance=True)
    client.launch_template.side_effect = api.AlreadyExists("There is already an active job named "
                                                           "nightly-orders-healer-1")
    jobs = mocker.create_autospec(dataflow_v1beta3.JobsV1Beta3Client, instance=True)
    jobs.list_jobs.return_value = dataflow_v1beta3.ListJobsResponse(jobs=[
        dataflow_v1beta3.Job(id="theirs", name="nightly-orders-healer-1")])
    assert relaunch_dataflow(external(), {"template": "gs://t/orders"}, {}, attempt=1, client=client,
                             jobs_client=jobs) == "theirs"
    jobs.list_jobs.assert_called_once_with(request=dataflow_v1beta3.ListJobsRequest(
        project_id=PROJECT, location=LOCATION, name="nightly-orders-healer-1",
        filter=dataflow_v1beta3.ListJobsRequest.Filter.ACTIVE))


@pytest.mark.parametrize("job, rule, rung, says", [
    (external(), {"template": "gs://t", "flex_template": "gs://t.json"}, {}, "needs one of template"),
    (external(), {}, {}, "needs one of template"),
    (external(), {"template": "gs://t"}, {"disk_size_gb": 500}, "names disk_size_gb"),
    (external("bigquery", "p:US.j"), {"template": "gs://t"}, {}, "not the bigquery job"),
])
def test_a_relaunch_that_cannot_be_made_is_refused_before_any_call(mocker, job, rule, rung, says):
    client = mocker.create_autospec(dataflow_v1beta3.TemplatesServiceClient, instance=True)
    with pytest.raises(ValueError, match=says):
        relaunch_dataflow(job, rule, rung, attempt=1, client=client)
    client.launch_template.assert_not_called()


# -- Dataflow workers in place ------------------------------------------------------------------------


def streaming(**details):
    return external(status=RUNNING, state="JOB_STATE_RUNNING",
                    **{"job_kind": "streaming", "streaming_engine": True, **details})


@pytest.mark.parametrize("low, high, paths", [
    (2, 50, ["runtime_updatable_params.min_num_workers", "runtime_updatable_params.max_num_workers"]),
    (None, 50, ["runtime_updatable_params.max_num_workers"]),
])
def test_a_streaming_engine_jobs_worker_range_is_updated_with_an_update_mask(mocker, low, high, paths):
    client = mocker.create_autospec(dataflow_v1beta3.JobsV1Beta3Client, instance=True)
    update_dataflow_workers(streaming(), min_workers=low, max_workers=high, client=client)
    params = dataflow_v1beta3.RuntimeUpdatableParams(max_num_workers=high)
    if low is not None:
        params.min_num_workers = low
    client.update_job.assert_called_once_with(request=dataflow_v1beta3.UpdateJobRequest(
        project_id=PROJECT, location=LOCATION, job_id="2026-05-01_04_00_00-123",
        job=dataflow_v1beta3.Job(runtime_updatable_params=params), update_mask=field_mask_pb2.FieldMask(paths=paths)))


def test_a_job_from_a_list_summary_is_read_before_its_workers_change(mocker):
    client = mocker.create_autospec(dataflow_v1beta3.JobsV1Beta3Client, instance=True)
    client.get_job.return_value = dataflow_v1beta3.Job(
        id="j", type_=dataflow_v1beta3.JobType.JOB_TYPE_STREAMING,
        environment=dataflow_v1beta3.Environment(experiments=["enable_streaming_engine"]))
    update_dataflow_workers(external(status=RUNNING, job_kind="streaming"), min_workers=None, max_workers=9,
                            client=client)
    assert client.get_job.call_args.kwargs["request"].view == dataflow_v1beta3.JobView.JOB_VIEW_DESCRIPTION
    client.update_job.assert_called_once()


@pytest.mark.parametrize("job, low, high, says", [
    (external(status=RUNNING, job_kind="batch", streaming_engine=False), None, 9, "is batch without Streaming"),
    (streaming(streaming_engine=False), None, 9, "streaming without Streaming Engine"),
    (streaming(), 10, 5, "min_workers 10 is more than max_workers 5"),
    (streaming(), None, None, "needs min_workers, max_workers or both"),
    (streaming(), 0, 5, "at least 1"),
    (external(job_kind="streaming", streaming_engine=True), None, 9, "only a running job"),
])
def test_a_worker_update_dataflow_would_refuse_is_refused_here(mocker, job, low, high, says):
    client = mocker.create_autospec(dataflow_v1beta3.JobsV1Beta3Client, instance=True)
    with pytest.raises(ValueError, match=says):
        update_dataflow_workers(job, min_workers=low, max_workers=high, client=client)
    client.update_job.assert_not_called()


# -- BigQuery rerun -----------------------------------------------------------------------------------


def bq_job(configuration=None, *, status=FAILED, **details):
    configuration = configuration or {
        "jobType": "QUERY", "labels": {"airflow-task": "load_orders"},
        "query": {"query": "INSERT INTO sales.orders SELECT * FROM staging.orders", "useLegacySql": False}}
    return external("bigquery", f"{PROJECT}:US.bqjob_r1", name="load_orders", status=status, state="DONE",
                    location="US", configuration=configuration, reason="rateLimitExceeded",
                    **{"statement_type": "INSERT", "child_jobs": 0, "parent_job_id": "", **details})


@pytest.fixture
def real_bq(mocker):
    """A real BigQuery client whose HTTP connection is mocked: what it would send is what is asserted."""
    client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials())
    client._connection = mocker.Mock()
    client._connection.api_request.side_effect = lambda **kw: {**kw["data"], "status": {"state": "RUNNING"}}
    return client


def test_a_failed_query_is_rerun_under_a_deterministic_job_id_with_its_configuration(real_bq):
    started = rerun_bigquery(bq_job(), attempt=1, client=real_bq)
    assert started == f"{PROJECT}:US.bqjob_r1_healer_1"
    [call] = real_bq._connection.api_request.call_args_list
    assert (call.kwargs["method"], call.kwargs["path"]) == ("POST", f"/projects/{PROJECT}/jobs")
    assert call.kwargs["data"] == {
        "jobReference": {"projectId": PROJECT, "location": "US", "jobId": "bqjob_r1_healer_1"},
        "configuration": {
            "labels": {"airflow-task": "load_orders", "healer-rerun-of": "bqjob_r1", "healer-attempt": "1"},
            "query": {"query": "INSERT INTO sales.orders SELECT * FROM staging.orders", "useLegacySql": False}}}


def test_a_second_healer_racing_gets_409_and_the_same_id(real_bq):
    real_bq._connection.api_request.side_effect = api.Conflict(
        f"Already Exists: Job {PROJECT}:US.bqjob_r1_healer_2")
    assert rerun_bigquery(bq_job(), attempt=2, client=real_bq) == f"{PROJECT}:US.bqjob_r1_healer_2"
    assert real_bq._connection.api_request.call_count == 1


def test_an_anonymous_destination_table_is_left_to_bigquery(real_bq):
    configuration = {"jobType": "QUERY", "query": {
        "query": "SELECT 1", "destinationTable": {"projectId": PROJECT, "datasetId": "_8f1c2a", "tableId": "anon1"}}}
    rerun_bigquery(bq_job(configuration), attempt=1, client=real_bq)
    assert "destinationTable" not in real_bq._connection.api_request.call_args.kwargs["data"]["configuration"]["query"]


def test_load_copy_and_extract_jobs_are_rerun_through_their_own_methods(mocker):
    client = mocker.create_autospec(bigquery.Client, instance=True)
    table = {"projectId": PROJECT, "datasetId": "sales", "tableId": "orders"}
    load = {"load": {"sourceUris": ["gs://in/orders-*.csv"], "destinationTable": table}}
    rerun_bigquery(bq_job(load), attempt=1, client=client)
    args, kwargs = client.load_table_from_uri.call_args
    assert args[0] == ["gs://in/orders-*.csv"] and args[1] == bigquery.TableReference.from_api_repr(table)
    assert (kwargs["job_id"], kwargs["project"], kwargs["location"]) == ("bqjob_r1_healer_1", PROJECT, "US")
    assert kwargs["job_config"].to_api_repr()["load"] == load["load"]
    rerun_bigquery(bq_job({"copy": {"sourceTables": [table], "destinationTable": {**table, "tableId": "copy"}}}),
                   attempt=1, client=client)
    assert client.copy_table.call_args.kwargs["job_config"].to_api_repr()["copy"]["sourceTables"] == [table]
    rerun_bigquery(bq_job({"extract": {"sourceTable": table, "destinationUris": ["gs://out/o-*.csv"]}}), attempt=1,
                   client=client)
    assert client.extract_table.call_args.args[1] == ["gs://out/o-*.csv"]


@pytest.mark.parametrize("job, says", [
    (bq_job(statement_type="SCRIPT"), "multi-statement script"),
    (bq_job(child_jobs=3), "multi-statement script"),
    (bq_job(parent_job_id="script_parent_1"), "multi-statement script"),
    (bq_job(status=SUCCEEDED), "not failed"),
    (bq_job({"jobType": "QUERY"}), "no configuration the healer can rerun"),
    (external(), "not the dataflow job"),
])
def test_a_rerun_that_could_do_work_twice_is_refused(mocker, job, says):
    client = mocker.create_autospec(bigquery.Client, instance=True)
    with pytest.raises(ValueError, match=says):
        rerun_bigquery(job, attempt=1, client=client)
    assert not client.method_calls


# -- Workflows rerun ----------------------------------------------------------------------------------


def test_a_failed_execution_is_started_again_with_its_argument(mocker):
    client = mocker.create_autospec(executions_v1.ExecutionsClient, instance=True)
    client.create_execution.return_value = executions_v1.Execution(name=f"{WORKFLOW}/executions/new")
    job = external("workflows", f"{WORKFLOW}/executions/e9", name="orders", state="FAILED", workflow=WORKFLOW,
                   argument='{"day": "2026-05-01"}')
    assert rerun_workflow(job, client=client) == f"{WORKFLOW}/executions/new"
    client.create_execution.assert_called_once_with(parent=WORKFLOW, execution=executions_v1.Execution(
        argument='{"day": "2026-05-01"}', labels={"healer-rerun-of": "e9"}))


def test_only_a_failed_execution_is_rerun(mocker):
    client = mocker.create_autospec(executions_v1.ExecutionsClient, instance=True)
    job = external("workflows", f"{WORKFLOW}/executions/e9", status=SUCCEEDED, workflow=WORKFLOW)
    with pytest.raises(ValueError, match="not failed"):
        rerun_workflow(job, client=client)
    client.create_execution.assert_not_called()
