"""Polling Dataflow, Cloud Workflows and BigQuery: the clients mocked at their boundary, the exact requests
asserted, the responses built from the clients' own types."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions as api
from google.api_core import page_iterator
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, dataflow_v1beta3, workflows_v1
from google.cloud.workflows import executions_v1

from airflow_healer.exceptions import ConfigurationError
from airflow_healer.gcp.jobs import CANCELLED, FAILED, PENDING, RUNNING, SUCCEEDED, PollQuotaExceeded
from airflow_healer.gcp.sources import (
    MAX_ERROR_CHARS,
    BigQuerySource,
    DataflowSource,
    WorkflowsSource,
    iso,
    sources_from_config,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SINCE = iso(NOW - timedelta(hours=1))
PROJECT, LOCATION = "acme-prod", "us-central1"
ACTIVE, TERMINATED = dataflow_v1beta3.ListJobsRequest.Filter.ACTIVE, dataflow_v1beta3.ListJobsRequest.Filter.TERMINATED
JobState = dataflow_v1beta3.JobState


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


# -- Dataflow -----------------------------------------------------------------------------------------


def df_job(job_id, state=JobState.JOB_STATE_DONE, minutes_ago=5.0, *, name=None, streaming=False, **fields):
    return dataflow_v1beta3.Job(
        id=job_id, project_id=PROJECT, location=LOCATION, name=name or f"job-{job_id}", current_state=state,
        current_state_time=ago(minutes_ago), create_time=ago(minutes_ago + 30), start_time=ago(minutes_ago + 29),
        type_=dataflow_v1beta3.JobType.JOB_TYPE_STREAMING if streaming else dataflow_v1beta3.JobType.JOB_TYPE_BATCH,
        **fields)


def df_page(*jobs, token=""):
    return dataflow_v1beta3.ListJobsResponse(jobs=list(jobs), next_page_token=token)


def df_request(which, token=""):
    return dataflow_v1beta3.ListJobsRequest(project_id=PROJECT, location=LOCATION, filter=which, page_size=1000,
                                            page_token=token)


@pytest.fixture
def dataflow(mocker, sleeps):
    jobs = mocker.create_autospec(dataflow_v1beta3.JobsV1Beta3Client, instance=True)
    messages = mocker.create_autospec(dataflow_v1beta3.MessagesV1Beta3Client, instance=True)
    messages.list_job_messages.return_value = dataflow_v1beta3.ListJobMessagesResponse()
    source = DataflowSource(PROJECT, LOCATION, client=jobs, messages_client=messages, sleep=sleeps,
                            rng=random.Random(7))
    return source, jobs, messages


def serve(client_method, pages):
    """``client_method`` answers each ListJobsRequest with the page its (filter, page_token) names."""
    def answer(request):
        return pages[(request.filter, request.page_token)]
    client_method.side_effect = answer


def requests_of(client_method):
    return [c.kwargs["request"] for c in client_method.call_args_list]


def test_dataflow_yields_only_jobs_changed_since_the_watermark_active_then_terminated(dataflow):
    source, jobs, _ = dataflow
    serve(jobs.list_jobs, {
        (ACTIVE, ""): df_page(df_job("run-new", JobState.JOB_STATE_RUNNING, 3),
                              df_job("run-old", JobState.JOB_STATE_RUNNING, 300)),
        (TERMINATED, ""): df_page(df_job("done-new", minutes_ago=10), df_job("done-old", minutes_ago=90)),
    })
    found = list(source.changed_since(SINCE))
    assert [(j.job_id, j.status) for j in found] == [("run-new", RUNNING), ("done-new", SUCCEEDED)]
    assert requests_of(jobs.list_jobs) == [df_request(ACTIVE), df_request(TERMINATED)]
    done = found[1]
    assert (done.job_type, done.job_name, done.state, done.project, done.location) == (
        "dataflow", "job-done-new", "JOB_STATE_DONE", PROJECT, LOCATION)
    assert done.changed_at == done.end_time == iso(ago(10)) and done.start_time == iso(ago(39))
    assert found[0].end_time is None and done.details == {"job_kind": "batch"}
    jobs.get_job.assert_not_called()  # no job failed: the summaries were enough


def test_dataflow_follows_page_tokens_and_stops_at_a_page_that_ended_before_the_watermark(dataflow):
    source, jobs, _ = dataflow
    serve(jobs.list_jobs, {
        (ACTIVE, ""): df_page(df_job("a1", JobState.JOB_STATE_RUNNING, 1), token="a2"),
        (ACTIVE, "a2"): df_page(df_job("a2", JobState.JOB_STATE_RUNNING, 400)),  # created order: all are read
        (TERMINATED, ""): df_page(df_job("t1", minutes_ago=5), df_job("t2", minutes_ago=20), token="p2"),
        (TERMINATED, "p2"): df_page(df_job("t3", minutes_ago=50), df_job("t4", minutes_ago=70), token="p3"),
        (TERMINATED, "p3"): df_page(df_job("t5", minutes_ago=80), df_job("t6", minutes_ago=95), token="p4"),
    })
    assert [j.job_id for j in source.changed_since(SINCE)] == ["a1", "t1", "t2", "t3"]
    assert requests_of(jobs.list_jobs) == [df_request(ACTIVE), df_request(ACTIVE, "a2"), df_request(TERMINATED),
                                           df_request(TERMINATED, "p2"), df_request(TERMINATED, "p3")]


def test_dataflow_reads_every_page_when_terminated_jobs_do_not_come_newest_first(dataflow):
    source, jobs, _ = dataflow
    serve(jobs.list_jobs, {
        (ACTIVE, ""): df_page(),
        (TERMINATED, ""): df_page(df_job("t1", minutes_ago=200), df_job("t2", minutes_ago=100), token="p2"),
        (TERMINATED, "p2"): df_page(df_job("t3", minutes_ago=20)),
    })
    assert [j.job_id for j in source.changed_since(SINCE)] == ["t3"]
    assert requests_of(jobs.list_jobs)[-1] == df_request(TERMINATED, "p2")


@pytest.mark.parametrize("state, read_again", [(JobState.JOB_STATE_RUNNING, True), (JobState.JOB_STATE_DRAINED, False)])
def test_a_running_streaming_job_is_read_in_full_for_its_worker_settings(dataflow, state, read_again):
    source, jobs, _ = dataflow
    summary = df_job("s1", state, 3, streaming=True)
    serve(jobs.list_jobs, {(ACTIVE, ""): df_page(summary), (TERMINATED, ""): df_page()})
    jobs.get_job.return_value = df_job("s1", state, 3, streaming=True, environment=streaming_environment())
    [job] = source.changed_since(SINCE)
    assert jobs.get_job.called is read_again
    assert ("streaming_engine" in job.details) is read_again and job.details["job_kind"] == "streaming"


@pytest.mark.parametrize("state, status", [
    (JobState.JOB_STATE_DONE, SUCCEEDED), (JobState.JOB_STATE_DRAINED, SUCCEEDED),
    (JobState.JOB_STATE_UPDATED, SUCCEEDED), (JobState.JOB_STATE_CANCELLED, CANCELLED),
    (JobState.JOB_STATE_RUNNING, RUNNING), (JobState.JOB_STATE_DRAINING, RUNNING),
    (JobState.JOB_STATE_CANCELLING, RUNNING), (JobState.JOB_STATE_PENDING, PENDING),
    (JobState.JOB_STATE_QUEUED, PENDING), (JobState.JOB_STATE_STOPPED, PENDING), (JobState.JOB_STATE_FAILED, FAILED),
])
def test_dataflow_states_are_normalised(dataflow, state, status):
    source, jobs, _ = dataflow
    jobs.get_job.return_value = df_job("j", state)
    job = source.get("j")
    assert (job.status, job.state) == (status, state.name)
    assert (job.end_time is not None) == (status in (SUCCEEDED, FAILED, CANCELLED))


def streaming_environment():
    return dataflow_v1beta3.Environment(
        experiments=["use_runner_v2", "enable_streaming_engine"],
        worker_pools=[dataflow_v1beta3.WorkerPool(kind="harness", machine_type="n2-highmem-4", num_workers=3,
                                                  autoscaling_settings=dataflow_v1beta3.AutoscalingSettings(
                                                      max_num_workers=20))])


def test_a_failed_dataflow_job_is_read_in_full_with_its_error_messages_page_by_page(dataflow):
    source, jobs, messages = dataflow
    summary = df_job("f1", JobState.JOB_STATE_FAILED, 4, streaming=True)
    serve(jobs.list_jobs, {(ACTIVE, ""): df_page(), (TERMINATED, ""): df_page(summary)})
    jobs.get_job.return_value = df_job(
        "f1", JobState.JOB_STATE_FAILED, 4, streaming=True, environment=streaming_environment(),
        labels={"team": "orders"},
        runtime_updatable_params=dataflow_v1beta3.RuntimeUpdatableParams(min_num_workers=2, max_num_workers=30))
    error = dataflow_v1beta3.JobMessageImportance.JOB_MESSAGE_ERROR
    pages = {"": dataflow_v1beta3.ListJobMessagesResponse(job_messages=[
                 dataflow_v1beta3.JobMessage(message_text="java.lang.OutOfMemoryError: Java heap space",
                                             message_importance=error),
                 dataflow_v1beta3.JobMessage(message_text="Workflow failed.", message_importance=error)],
                 next_page_token="m2"),
             "m2": dataflow_v1beta3.ListJobMessagesResponse(job_messages=[
                 dataflow_v1beta3.JobMessage(message_text="Workflow failed.", message_importance=error)])}
    messages.list_job_messages.side_effect = lambda request: pages[request.page_token]

    [job] = source.changed_since(SINCE)
    assert jobs.get_job.call_args.kwargs["request"] == dataflow_v1beta3.GetJobRequest(
        project_id=PROJECT, location=LOCATION, job_id="f1", view=dataflow_v1beta3.JobView.JOB_VIEW_DESCRIPTION)
    assert requests_of(messages.list_job_messages) == [
        dataflow_v1beta3.ListJobMessagesRequest(project_id=PROJECT, location=LOCATION, job_id="f1",
                                                minimum_importance=error, page_size=100, page_token=token)
        for token in ("", "m2")]
    assert job.failed and job.error_message == "java.lang.OutOfMemoryError: Java heap space\nWorkflow failed."
    assert job.labels == {"team": "orders"}
    assert job.details == {"job_kind": "streaming", "streaming_engine": True, "machine_type": "n2-highmem-4",
                           "num_workers": 3, "min_workers": 2, "max_workers": 30}


@pytest.mark.parametrize("environment, streaming_engine", [
    (dataflow_v1beta3.Environment(experiments=["use_runner_v2"]), False),
    (dataflow_v1beta3.Environment(sdk_pipeline_options={"options": {"enableStreamingEngine": True}}), True),
    (dataflow_v1beta3.Environment(service_options=["enable_prime"]), True),
])
def test_streaming_engine_is_read_from_the_environment(dataflow, environment, streaming_engine):
    source, jobs, _ = dataflow
    jobs.get_job.return_value = df_job("s", JobState.JOB_STATE_RUNNING, streaming=True, environment=environment)
    assert source.get("s").details["streaming_engine"] is streaming_engine


def test_a_huge_dataflow_error_is_capped_and_no_more_pages_are_read(dataflow):
    source, jobs, messages = dataflow
    jobs.get_job.return_value = df_job("f", JobState.JOB_STATE_FAILED)
    messages.list_job_messages.side_effect = lambda request: dataflow_v1beta3.ListJobMessagesResponse(
        job_messages=[dataflow_v1beta3.JobMessage(message_text=f"{request.page_token} {i} " + "x" * 3000)
                      for i in range(2)], next_page_token=request.page_token + "n")
    job = source.get("f")
    assert len(job.error_message) <= MAX_ERROR_CHARS and job.error_message.endswith("more characters cut]")
    assert messages.list_job_messages.call_count == 2


def test_429_backs_off_with_jitter_then_the_poll_goes_on(dataflow, sleeps):
    source, jobs, _ = dataflow
    jobs.list_jobs.side_effect = [api.TooManyRequests("slow down"), api.ResourceExhausted("quota"),
                                  df_page(df_job("run", JobState.JOB_STATE_RUNNING, 1)), df_page()]
    assert [j.job_id for j in source.changed_since(SINCE)] == ["run"]
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert requests_of(jobs.list_jobs) == [df_request(ACTIVE)] * 3 + [df_request(TERMINATED)]


def test_429_past_the_budget_raises_poll_quota_exceeded(dataflow, sleeps):
    source, jobs, _ = dataflow
    jobs.list_jobs.side_effect = api.TooManyRequests("Quota exceeded for quota metric 'List requests'")
    with pytest.raises(PollQuotaExceeded, match=f"Dataflow in project {PROJECT}, location {LOCATION}: list_jobs"):
        list(source.changed_since(SINCE))
    assert len(sleeps) == source.quota_retries == 5
    assert sleeps == sorted(sleeps) and max(sleeps) <= 16.0
    jobs.list_jobs.side_effect = [df_page(), df_page()]
    assert list(source.changed_since(SINCE)) == []  # the next cycle has its budget again


def test_other_api_errors_keep_their_type_and_say_where(dataflow, sleeps):
    source, jobs, _ = dataflow
    jobs.list_jobs.side_effect = api.PermissionDenied("dataflow.jobs.list denied")
    with pytest.raises(api.PermissionDenied, match=f"Dataflow in project {PROJECT}, location {LOCATION}: "
                                                   r"list_jobs \(ACTIVE\): dataflow.jobs.list denied"):
        list(source.changed_since(SINCE))
    assert sleeps == []


# -- Cloud Workflows ----------------------------------------------------------------------------------

WORKFLOW = f"projects/{PROJECT}/locations/{LOCATION}/workflows/orders"
FILTER = f'startTime>"{SINCE}" OR endTime>"{SINCE}"'
State = executions_v1.Execution.State


def execution(eid, state=State.SUCCEEDED, minutes_ago=5.0, *, workflow=WORKFLOW, **fields):
    ended = {} if state in (State.ACTIVE, State.QUEUED) else {"end_time": ago(minutes_ago)}
    return executions_v1.Execution(name=f"{workflow}/executions/{eid}", state=state,
                                   start_time=ago(minutes_ago + 2), **ended, **fields)


def wf_request(parent=WORKFLOW, token=""):
    return executions_v1.ListExecutionsRequest(parent=parent, page_size=100, page_token=token, filter=FILTER,
                                               order_by="startTime desc", view=executions_v1.ExecutionView.FULL)


@pytest.fixture
def workflows(mocker, sleeps):
    listing = mocker.create_autospec(workflows_v1.WorkflowsClient, instance=True)
    executions = mocker.create_autospec(executions_v1.ExecutionsClient, instance=True)
    return listing, executions


def test_workflows_filters_on_time_and_follows_page_tokens(workflows, sleeps):
    listing, executions = workflows
    pages = {"": executions_v1.ListExecutionsResponse(executions=[execution("e1", State.ACTIVE, 1)],
                                                      next_page_token="n2"),
             "n2": executions_v1.ListExecutionsResponse(executions=[execution("e2", minutes_ago=30),
                                                                    execution("old", minutes_ago=61)])}
    executions.list_executions.side_effect = lambda request: pages[request.page_token]
    source = WorkflowsSource(PROJECT, LOCATION, workflows=["orders"], client=listing, executions_client=executions,
                             sleep=sleeps)
    found = list(source.changed_since(SINCE))
    assert [(j.job_id.rsplit("/", 1)[1], j.status) for j in found] == [("e1", RUNNING), ("e2", SUCCEEDED)]
    assert requests_of(executions.list_executions) == [wf_request(), wf_request(token="n2")]
    listing.list_workflows.assert_not_called()
    assert found[0].changed_at == iso(ago(3)) and found[1].changed_at == iso(ago(30))  # start, else end
    assert (found[1].job_name, found[1].project, found[1].location) == ("orders", PROJECT, LOCATION)


def test_workflows_lists_every_workflow_of_the_region_when_none_are_named(workflows, sleeps):
    listing, executions = workflows
    other = f"projects/{PROJECT}/locations/{LOCATION}/workflows/billing"
    pages = {"": workflows_v1.ListWorkflowsResponse(workflows=[workflows_v1.Workflow(name=WORKFLOW)],
                                                    next_page_token="w2"),
             "w2": workflows_v1.ListWorkflowsResponse(workflows=[workflows_v1.Workflow(name=other)])}
    listing.list_workflows.side_effect = lambda request: pages[request.page_token]
    executions.list_executions.side_effect = [
        executions_v1.ListExecutionsResponse(executions=[execution("e1")]),
        api.NotFound("workflow billing not found")]  # deleted meanwhile: skipped
    source = WorkflowsSource(PROJECT, LOCATION, client=listing, executions_client=executions, sleep=sleeps)
    assert [j.job_id for j in source.changed_since(SINCE)] == [f"{WORKFLOW}/executions/e1"]
    assert requests_of(listing.list_workflows) == [
        workflows_v1.ListWorkflowsRequest(parent=f"projects/{PROJECT}/locations/{LOCATION}", page_size=1000,
                                          page_token=token) for token in ("", "w2")]
    assert requests_of(executions.list_executions) == [wf_request(), wf_request(other)]


@pytest.mark.parametrize("state, status", [
    (State.SUCCEEDED, SUCCEEDED), (State.FAILED, FAILED), (State.CANCELLED, CANCELLED), (State.ACTIVE, RUNNING),
    (State.QUEUED, PENDING), (State.UNAVAILABLE, FAILED),
])
def test_workflows_states_are_normalised(workflows, state, status):
    _, executions = workflows
    executions.get_execution.return_value = execution("e", state)
    source = WorkflowsSource(PROJECT, LOCATION, executions_client=executions)
    job = source.get(f"{WORKFLOW}/executions/e")
    assert (job.status, job.state) == (status, state.name)
    assert executions.get_execution.call_args.kwargs["request"] == executions_v1.GetExecutionRequest(
        name=f"{WORKFLOW}/executions/e", view=executions_v1.ExecutionView.FULL)


def test_a_failed_execution_carries_its_error_and_what_a_rerun_needs(workflows):
    _, executions = workflows
    Error = executions_v1.Execution.Error
    frame = executions_v1.Execution.StackTraceElement(
        step="call_api", routine="main", position=executions_v1.Execution.StackTraceElement.Position(line=12,
                                                                                                     column=7))
    executions.get_execution.return_value = execution(
        "e9", State.FAILED, argument='{"day": "2026-05-01"}', labels={"team": "orders"},
        error=Error(payload='{"code": 429, "message": "HTTP server responded with error code 429"}',
                    context="HTTP server responded with error code 429\nin step \"call_api\", routine \"main\"",
                    stack_trace=executions_v1.Execution.StackTrace(elements=[frame])))
    job = WorkflowsSource(PROJECT, LOCATION, executions_client=executions).get(f"{WORKFLOW}/executions/e9")
    assert job.error_message.splitlines() == [
        "HTTP server responded with error code 429", 'in step "call_api", routine "main"',
        '{"code": 429, "message": "HTTP server responded with error code 429"}',
        "at step 'call_api' (routine 'main', line 12, column 7)"]
    assert job.details == {"workflow": WORKFLOW, "argument": '{"day": "2026-05-01"}', "revision": ""}
    assert job.labels == {"team": "orders"}


def test_a_huge_workflows_error_is_capped(workflows):
    _, executions = workflows
    executions.get_execution.return_value = execution(
        "e", State.FAILED, error=executions_v1.Execution.Error(payload="p" * 50_000, context="c" * 50_000))
    job = WorkflowsSource(PROJECT, LOCATION, executions_client=executions).get(f"{WORKFLOW}/executions/e")
    assert len(job.error_message) <= MAX_ERROR_CHARS and job.error_message.startswith("c" * 100)


def test_a_named_workflow_that_does_not_exist_is_an_error_that_says_where(workflows):
    _, executions = workflows
    executions.list_executions.side_effect = api.NotFound("Resource 'orders' was not found")
    source = WorkflowsSource(PROJECT, LOCATION, workflows=["orders"], executions_client=executions)
    with pytest.raises(api.NotFound, match=f"Cloud Workflows in project {PROJECT}, location {LOCATION}: "
                                           f"list_executions of {WORKFLOW}"):
        list(source.changed_since(SINCE))


def test_workflows_quota_budget_spent_raises_poll_quota_exceeded(workflows, sleeps):
    _, executions = workflows
    executions.list_executions.side_effect = api.ResourceExhausted("Quota exceeded")
    source = WorkflowsSource(PROJECT, LOCATION, workflows=["orders"], executions_client=executions, sleep=sleeps,
                             quota_retries=2)
    with pytest.raises(PollQuotaExceeded, match="Cloud Workflows"):
        list(source.changed_since(SINCE))
    assert len(sleeps) == 2


# -- BigQuery -----------------------------------------------------------------------------------------


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def bq_resource(job_id, *, created=60.0, ended=5.0, error=None, errors=None, labels=None, state="DONE", **stats):
    status = {"state": state}
    if error:
        status["errorResult"] = error
        status["errors"] = errors or [error]
    statistics = {"creationTime": ms(ago(created)), "startTime": ms(ago(created - 1)), **stats}
    if state == "DONE":
        statistics["endTime"] = ms(ago(ended))
    return {"id": f"{PROJECT}:US.{job_id}",
            "jobReference": {"projectId": PROJECT, "location": "US", "jobId": job_id},
            "configuration": {"jobType": "QUERY", "labels": labels or {},
                              "query": {"query": f"SELECT * FROM sales.{job_id}", "useLegacySql": False}},
            "status": status, "statistics": statistics}


@pytest.fixture
def real_bq():
    """A real client (no network: it is never asked to call) that turns API resources into its job types."""
    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials())


def bq_listing(real_bq, resources, token=None):
    """What ``Client.list_jobs`` returns: the API's own iterator over one response page."""
    response = {"jobs": resources, **({"nextPageToken": token} if token else {})}
    return page_iterator.HTTPIterator(client=real_bq, api_request=lambda **_: response, path="/projects/p/jobs",
                                      item_to_value=lambda it, r: real_bq.job_from_resource(r), items_key="jobs")


@pytest.fixture
def bq(mocker, sleeps):
    client = mocker.create_autospec(bigquery.Client, instance=True)
    return BigQuerySource(PROJECT, client=client, sleep=sleeps, rng=random.Random(1)), client


def test_bigquery_asks_from_six_hours_before_the_watermark_and_drops_what_ended_before_it(bq, real_bq):
    source, client = bq
    pages = {None: [bq_resource("new", created=300, ended=20), bq_resource("old", created=200, ended=70)],
             "p2": [bq_resource("long", created=400, ended=1)]}
    client.list_jobs.side_effect = lambda **kw: bq_listing(real_bq, pages[kw["page_token"]],
                                                           "p2" if kw["page_token"] is None else None)
    assert [j.job_id for j in source.changed_since(SINCE)] == [f"{PROJECT}:US.new", f"{PROJECT}:US.long"]
    calls = client.list_jobs.call_args_list
    assert [c.kwargs["page_token"] for c in calls] == [None, "p2"]
    for c in calls:
        retry = c.kwargs.pop("retry")
        assert not retry._predicate(api.TooManyRequests("x")) and retry._predicate(api.ServiceUnavailable("x"))
        assert c.kwargs == {"project": PROJECT, "all_users": True, "state_filter": "done", "page_size": 1000,
                            "min_creation_time": NOW - timedelta(hours=7), "page_token": c.kwargs["page_token"]}


@pytest.mark.parametrize("resource, status", [
    (bq_resource("ok"), SUCCEEDED),
    (bq_resource("bad", error={"reason": "invalidQuery", "message": "Syntax error"}), FAILED),
    (bq_resource("stop", error={"reason": "stopped", "message": "Job execution was cancelled"}), CANCELLED),
    (bq_resource("run", state="RUNNING"), RUNNING),
    (bq_resource("wait", state="PENDING"), PENDING),
])
def test_bigquery_states_are_normalised(bq, real_bq, resource, status):
    source, client = bq
    client.get_job.return_value = real_bq.job_from_resource(resource)
    job = source.get(resource["id"])
    assert job.status == status and job.state == resource["status"]["state"]
    client.get_job.assert_called_once_with(job_id=resource["jobReference"]["jobId"], project=PROJECT, location="US",
                                           retry=client.get_job.call_args.kwargs["retry"])


def test_a_failed_bigquery_job_carries_its_errors_configuration_and_name(bq, real_bq):
    source, client = bq
    error = {"reason": "resourcesExceeded", "message": "Resources exceeded during query execution",
             "location": "query"}
    resource = bq_resource("q1", error=error, errors=[error, {"reason": "backendError", "message": "shard 7"}],
                           labels={"airflow-task": "load_orders"}, query={"statementType": "SELECT"})
    client.get_job.return_value = real_bq.job_from_resource(resource)
    job = source.get(f"{PROJECT}:US.q1")
    assert job.error_message == ("resourcesExceeded: Resources exceeded during query execution (at query)\n"
                                 "backendError: shard 7")
    assert (job.job_name, job.project, job.location, job.end_time) == ("load_orders", PROJECT, "US", iso(ago(5)))
    assert job.details["configuration"] == resource["configuration"]
    assert job.details["reason"] == "resourcesExceeded" and job.details["statement_type"] == "SELECT"


@pytest.mark.parametrize("labels, name", [({"healer-name": "orders", "airflow-task": "t"}, "orders"),
                                          ({"airflow-task": "t"}, "t"), ({}, "q1")])
def test_bigquery_job_names_come_from_labels(bq, real_bq, labels, name):
    source, client = bq
    client.get_job.return_value = real_bq.job_from_resource(bq_resource("q1", labels=labels))
    assert source.get(f"{PROJECT}:US.q1").job_name == name


def test_a_huge_bigquery_error_is_capped(bq, real_bq):
    source, client = bq
    errors = [{"reason": "invalid", "message": f"row {i}: " + "x" * 500} for i in range(100)]
    client.get_job.return_value = real_bq.job_from_resource(bq_resource("q", error=errors[0], errors=errors))
    assert len(source.get(f"{PROJECT}:US.q").error_message) <= MAX_ERROR_CHARS


def test_bigquerys_403_rate_limit_is_a_quota_answer_too(bq, real_bq, sleeps):
    source, client = bq
    limited = api.Forbidden("Exceeded rate limits", errors=[{"reason": "rateLimitExceeded"}])
    client.list_jobs.side_effect = [limited, bq_listing(real_bq, [bq_resource("q")])]
    assert [j.job_id for j in source.changed_since(SINCE)] == [f"{PROJECT}:US.q"]
    assert len(sleeps) == 1
    client.list_jobs.side_effect = api.Forbidden("Access Denied", errors=[{"reason": "accessDenied"}])
    with pytest.raises(api.Forbidden, match=f"BigQuery in project {PROJECT}: list_jobs: Access Denied"):
        list(source.changed_since(SINCE))


def test_a_bigquery_job_id_is_project_location_and_id(bq):
    source, _ = bq
    with pytest.raises(ValueError, match="project:location.job_id"):
        source.get("just-an-id")


# -- from the configuration, and the clients made on first use ----------------------------------------


def test_sources_from_config_polls_each_project_region_and_service(config):
    cfg = config.replace(external_jobs="dataflow,workflows,bigquery", external_projects="p1,p2",
                         external_locations="us-central1,europe-west1",
                         external_workflows="orders,projects/p2/locations/europe-west1/workflows/billing")
    sources = sources_from_config(cfg)
    assert [repr(s) for s in sources] == [
        "DataflowSource(Dataflow in project p1, location us-central1)",
        "WorkflowsSource(Cloud Workflows in project p1, location us-central1)",
        "DataflowSource(Dataflow in project p1, location europe-west1)",
        "WorkflowsSource(Cloud Workflows in project p1, location europe-west1)",
        "BigQuerySource(BigQuery in project p1)",
        "DataflowSource(Dataflow in project p2, location us-central1)",
        "WorkflowsSource(Cloud Workflows in project p2, location us-central1)",
        "DataflowSource(Dataflow in project p2, location europe-west1)",
        "WorkflowsSource(Cloud Workflows in project p2, location europe-west1)",
        "BigQuerySource(BigQuery in project p2)"]
    assert sources[-2].workflow_names() == ["projects/p2/locations/europe-west1/workflows/orders",
                                            "projects/p2/locations/europe-west1/workflows/billing"]
    assert sources[1].workflows == ("orders",)


def test_sources_from_config_skips_regions_the_named_workflows_are_not_in(config):
    cfg = config.replace(external_jobs="workflows", external_projects="p1",
                         external_locations="us-central1,europe-west1",
                         external_workflows="projects/p1/locations/europe-west1/workflows/billing")
    assert [s.location for s in sources_from_config(cfg)] == ["europe-west1"]


def test_sources_from_config_uses_the_connections_project_when_none_is_named(config, mocker):
    hook = mocker.patch("airflow.providers.google.common.hooks.base_google.GoogleBaseHook")
    hook.return_value.project_id = "from-connection"
    [source] = sources_from_config(config.replace(external_jobs="bigquery", gcp_conn_id="gcp_prod"))
    assert source.project == "from-connection" and source.gcp_conn_id == "gcp_prod"
    hook.assert_called_once_with(gcp_conn_id="gcp_prod")
    hook.return_value.project_id = None
    with pytest.raises(ConfigurationError, match="names no project"):
        sources_from_config(config.replace(external_jobs="bigquery"))


def test_no_external_jobs_no_sources(config):
    assert sources_from_config(config) == []


def test_clients_are_made_on_first_use_with_the_connections_credentials(mocker):
    hook = mocker.patch("airflow.providers.google.common.hooks.base_google.GoogleBaseHook")
    made = mocker.patch("google.cloud.dataflow_v1beta3.JobsV1Beta3Client")
    source = DataflowSource(PROJECT, LOCATION, gcp_conn_id="gcp_prod")
    made.assert_not_called()
    assert source.client is made.return_value
    made.assert_called_once_with(credentials=hook.return_value.get_credentials.return_value)
    hook.assert_called_once_with(gcp_conn_id="gcp_prod")


def test_an_undefined_connection_is_a_clear_error(airflow_home):
    source = BigQuerySource(PROJECT, gcp_conn_id="no_such_connection")
    with pytest.raises(ConfigurationError, match="Connection 'no_such_connection' is not defined"):
        source.client  # noqa: B018
