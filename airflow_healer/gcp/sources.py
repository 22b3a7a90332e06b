"""Dataflow jobs, Cloud Workflows executions and BigQuery jobs, polled as :class:`ExternalJob` s.

One :class:`~airflow_healer.gcp.jobs.JobSource` per service and project (and region, for Dataflow and
Workflows). Each lists only what changed after the poll's watermark, page by page, using the service's
own filters and its list order to stop early, and backs off when the service answers 429:

- **Dataflow** (``projects.locations.jobs.list``): the list takes no time filter, only a state filter whose
  order the API documents as "determined by the filter used, and subject to change": ``ACTIVE`` jobs come
  ordered on creation time (so all of them are read: they are few), ``TERMINATED`` jobs on their termination
  time, in a direction the docs do not state. The source reads ``ACTIVE`` first, then ``TERMINATED``, and
  stops paging ``TERMINATED`` at a page whose jobs all ended before the watermark (less a margin) only while
  every job read so far came newest first; should the order ever differ it reads every page instead.
  ``list`` returns summaries, so a failed job, or a running streaming one, is read again
  (``JOB_VIEW_DESCRIPTION``: environment, workers); a failed job's error-level job messages are its error text.
- **Cloud Workflows** (``executions.list`` per workflow, every workflow of the region when none are named):
  the API filters on time (``startTime``/``endTime``, AIP-160) and orders by start time; the ``FULL`` view
  carries the error and the argument a rerun needs, at most 100 executions a page.
- **BigQuery** (``jobs.list``, all users, ``stateFilter=done``): the list is ordered by creation time, newest
  first, and filters on it only (``minCreationTime``). A job can end hours after it was created, so the
  source asks from ``max_job_runtime`` (6 h) before the watermark and drops the jobs that ended before it.

Errors translated here: quota answers (429 ``TooManyRequests``, gRPC ``RESOURCE_EXHAUSTED``, BigQuery's 403
``rateLimitExceeded``/``quotaExceeded``) are retried with exponential backoff and jitter, a few times a
cycle, then raise :class:`~airflow_healer.gcp.jobs.PollQuotaExceeded` (the poller keeps its watermark and
tries next cycle); any other API error is raised again as the same exception type, its message prefixed
with the service, project and region that raised it.

Nothing here imports ``google.cloud`` or ``airflow`` at module level: the clients are made on first use, with
the credentials of the Airflow connection ``gcp_conn_id``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from airflow_healer.exceptions import ConfigurationError
from airflow_healer.gcp.jobs import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    ExternalJob,
    JobSource,
    PollQuotaExceeded,
)

log = logging.getLogger(__name__)

#: Characters of a job's error text that are kept: error messages are untrusted and can be huge.
MAX_ERROR_CHARS = 8_000
#: BigQuery's reasons for a 403 that is a quota, not a permission, answer.
QUOTA_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded", "userRateLimitExceeded"})

DATAFLOW_STATUS = {
    "JOB_STATE_DONE": SUCCEEDED, "JOB_STATE_DRAINED": SUCCEEDED,
    # UPDATED: replaced by a new job that carries its state on; nothing failed.
    "JOB_STATE_UPDATED": SUCCEEDED,
    "JOB_STATE_FAILED": FAILED, "JOB_STATE_CANCELLED": CANCELLED,
    "JOB_STATE_RUNNING": RUNNING, "JOB_STATE_DRAINING": RUNNING, "JOB_STATE_CANCELLING": RUNNING,
    "JOB_STATE_RESOURCE_CLEANING_UP": RUNNING, "JOB_STATE_PAUSING": RUNNING, "JOB_STATE_PAUSED": RUNNING,
    "JOB_STATE_PENDING": PENDING, "JOB_STATE_QUEUED": PENDING, "JOB_STATE_STOPPED": PENDING,
    "JOB_STATE_UNKNOWN": PENDING,
}
WORKFLOWS_STATUS = {
    "SUCCEEDED": SUCCEEDED, "FAILED": FAILED, "CANCELLED": CANCELLED, "ACTIVE": RUNNING, "QUEUED": PENDING,
    # The service cannot read the execution (its state_error says why, e.g. a KMS key): a person should look.
    "UNAVAILABLE": FAILED,
    "STATE_UNSPECIFIED": PENDING,
}
BIGQUERY_STATUS = {"RUNNING": RUNNING, "PENDING": PENDING}
DATAFLOW_KIND = {"JOB_TYPE_BATCH": "batch", "JOB_TYPE_STREAMING": "streaming"}


# -- small helpers ----------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``moment`` as the ISO 8601 UTC text the store and the watermark use (fixed width, ``Z``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def join_errors(parts: Iterable[str], limit: int = MAX_ERROR_CHARS) -> str:
    """The distinct non-empty ``parts``, one a line, capped at ``limit`` characters."""
    out: list[str] = []
    seen: set[str] = set()
    size = 0
    for part in parts:
        text = (part or "").strip()
        if not text or text in seen:
            continue
        seen.add(text)
        out.append(text)
        size += len(text) + 1
        if size > limit:
            break
    return cap("\n".join(out), limit)


def cap(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    marker = f"\n... [{len(text) - limit} more characters cut]"
    return text[: max(limit - len(marker), 0)] + marker


def google_credentials(gcp_conn_id: str) -> Any:
    """The credentials of Airflow connection ``gcp_conn_id`` (through the google provider's base hook)."""
    return _from_connection(gcp_conn_id, lambda hook: hook.get_credentials())


def bigquery_credentials(gcp_conn_id: str) -> Any:
    """BigQuery's credentials: anonymous when ``BIGQUERY_EMULATOR_HOST`` points the client at an emulator
    (as the Pub/Sub client does for ``PUBSUB_EMULATOR_HOST``), else those of the connection."""
    import os

    if os.environ.get("BIGQUERY_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    return google_credentials(gcp_conn_id)


def connection_project(gcp_conn_id: str) -> str:
    """The project Airflow connection ``gcp_conn_id`` names (its key file's or its ``project`` extra)."""
    project = _from_connection(gcp_conn_id, lambda hook: hook.project_id)
    if not project:
        raise ConfigurationError(f"[healer] external_projects is empty and connection {gcp_conn_id!r} names no "
                                 "project: set one of them (external_projects = my-project).")
    return project


def _from_connection(gcp_conn_id: str, read: Callable[[Any], Any]) -> Any:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    try:
        return read(GoogleBaseHook(gcp_conn_id=gcp_conn_id))
    except AirflowNotFoundException as exc:
        raise ConfigurationError(f"Connection {gcp_conn_id!r} is not defined: add it (airflow connections add "
                                 f"{gcp_conn_id} --conn-type google_cloud_platform) or set [healer] gcp_conn_id."
                                 ) from exc


def is_quota_error(exc: BaseException) -> bool:
    """A 429 / RESOURCE_EXHAUSTED, or BigQuery's 403 with a rate-limit or quota reason."""
    from google.api_core import exceptions as api

    if isinstance(exc, (api.TooManyRequests, api.ResourceExhausted)):
        return True
    if isinstance(exc, api.Forbidden):
        return any(isinstance(e, dict) and e.get("reason") in QUOTA_REASONS for e in exc.errors or ())
    return False


def with_context(exc: Any, where: str) -> Any:
    """A ``GoogleAPICallError`` again, of the same type, its message saying ``where`` it was raised."""
    message = f"{where}: {exc.message}"
    try:
        return type(exc)(message, errors=exc.errors, details=exc.details, response=exc.response)
    except TypeError:  # a subclass with another constructor: keep it, say where in its message
        exc.message = message
        return exc


def _is_api_error(exc: BaseException) -> bool:
    from google.api_core import exceptions as api

    return isinstance(exc, api.GoogleAPICallError)


def _moment(moment: Any) -> datetime | None:
    return moment if isinstance(moment, datetime) else None


# -- the shared polling machinery ---------------------------------------------------------------------


class _Source:
    """What every source shares: where it polls, its lazily made credentials, and quota backoff.

    :param quota_retries: quota answers one poll (a :meth:`changed_since` or a :meth:`get`) retries at most.
    :param backoff_seconds: the first backoff; it doubles on each quota answer in a row ...
    :param max_backoff_seconds: ... up to this. Each wait is drawn between half of it and all of it.
    :param sleep: how to wait (tests pass a recorder).
    :param rng: the jitter's random source.
    """

    job_type = ""
    service = ""

    def __init__(self, project: str, location: str, *, gcp_conn_id: str = "google_cloud_default",
                 quota_retries: int = 5, backoff_seconds: float = 1.0, max_backoff_seconds: float = 32.0,
                 sleep: Callable[[float], Any] | None = None, rng: random.Random | None = None):
        if not project:
            raise ConfigurationError(f"A {self.service} source needs a project.")
        self.project = project
        self.location = location
        self.gcp_conn_id = gcp_conn_id
        self.quota_retries = quota_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = time.sleep if sleep is None else sleep
        self._rng = random.Random() if rng is None else rng
        self._retries_left = quota_retries
        self._slept = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where})"

    @property
    def where(self) -> str:
        location = f", location {self.location}" if self.location else ""
        return f"{self.service} in project {self.project}{location}"

    @cached_property
    def credentials(self) -> Any:
        return google_credentials(self.gcp_conn_id)

    def _given_or_made(self, client: Any, make: Callable[..., Any], **kwargs: Any) -> Any:
        """``client`` when one was given, else one made by ``make`` with the connection's credentials."""
        return make(credentials=self.credentials, **kwargs) if client is None else client

    def _new_poll(self) -> None:
        self._retries_left, self._slept = self.quota_retries, 0.0

    def _call(self, what: str, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``method(**kwargs)``, waiting out quota answers within this poll's budget."""
        streak = 0
        while True:
            try:
                return method(**kwargs)
            except Exception as exc:
                if not is_quota_error(exc):
                    if not _is_api_error(exc):
                        raise
                    raise with_context(exc, f"{self.where}: {what}") from exc
                if self._retries_left <= 0:
                    raise PollQuotaExceeded(
                        f"{self.where}: {what} kept answering {type(exc).__name__} (429 / RESOURCE_EXHAUSTED) "
                        f"after {self.quota_retries} retries and {self._slept:.1f} s of backoff; it is polled again "
                        f"next cycle (raise the API's quota if this repeats): {exc}") from exc
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** streak)
                delay = delay / 2 + self._rng.uniform(0, delay / 2)
                self._retries_left -= 1
                self._slept += delay
                streak += 1
                log.info("%s: %s answered %s; waiting %.1f s (%d retries left this poll)", self.where, what,
                         type(exc).__name__, delay, self._retries_left)
                self._sleep(delay)


# -- Dataflow -----------------------------------------------------------------------------------------


def dataflow_details(job: Any) -> dict[str, Any]:
    """What remediation needs from a ``dataflow_v1beta3.Job`` (see :class:`ExternalJob`)."""
    details: dict[str, Any] = {"job_kind": DATAFLOW_KIND.get(job.type_.name, "unknown")}
    if "environment" in job:
        env = job.environment
        options = dict(env.sdk_pipeline_options.get("options") or {}) if env.sdk_pipeline_options else {}
        flags = {*env.experiments, *env.service_options}
        details["streaming_engine"] = bool(
            "enable_streaming_engine" in flags or "enable_prime" in flags
            or env.use_streaming_engine_resource_based_billing
            or options.get("enableStreamingEngine") or options.get("enable_streaming_engine")
            or env.streaming_mode.name == "STREAMING_MODE_AT_LEAST_ONCE")
        pools = list(env.worker_pools)
        pool = next((p for p in pools if p.kind == "harness"), pools[0] if pools else None)
        if pool is not None:
            if pool.machine_type:
                details["machine_type"] = pool.machine_type
            if pool.num_workers:
                details["num_workers"] = pool.num_workers
            if pool.autoscaling_settings.max_num_workers:
                details["max_workers"] = pool.autoscaling_settings.max_num_workers
    if "runtime_updatable_params" in job:
        params = job.runtime_updatable_params
        if "min_num_workers" in params:
            details["min_workers"] = params.min_num_workers
        if "max_num_workers" in params:
            details["max_workers"] = params.max_num_workers
    return details


def from_dataflow(job: Any, project: str, location: str, error_message: str = "") -> ExternalJob:
    """A ``dataflow_v1beta3.Job`` as an :class:`ExternalJob`."""
    state = job.current_state.name
    status = DATAFLOW_STATUS.get(state, PENDING)
    changed = _moment(job.current_state_time) or _moment(job.create_time)
    started = _moment(job.start_time) or _moment(job.create_time)
    return ExternalJob(
        job_type="dataflow", job_id=job.id, job_name=job.name or job.id, status=status, state=state,
        project=job.project_id or project, location=job.location or location,
        changed_at=iso(changed) if changed else "", start_time=iso(started) if started else None,
        end_time=iso(changed) if changed and status in TERMINAL else None,
        error_message=cap(error_message), labels=dict(job.labels), details=dataflow_details(job))


class DataflowSource(_Source):
    """Dataflow jobs of one project and region.

    :param project: the project whose jobs are polled.
    :param location: the job's regional endpoint (``us-central1``).
    :param client: a ``dataflow_v1beta3.JobsV1Beta3Client`` (made on first use when not given).
    :param messages_client: a ``dataflow_v1beta3.MessagesV1Beta3Client`` for failed jobs' error messages.
    :param gcp_conn_id: the Airflow connection whose credentials the clients use.
    :param page_size: jobs asked for per page (the server may send fewer).
    :param stop_margin: how far before the watermark a page of terminated jobs must have ended for the
        listing to stop there (their list order is on the termination time, near but not equal to
        ``current_state_time``).
    The backoff parameters are those of the shared source (``quota_retries``, ``backoff_seconds``,
    ``max_backoff_seconds``, ``sleep``, ``rng``).
    """

    job_type = "dataflow"
    service = "Dataflow"

    def __init__(self, project: str, location: str, *, client: Any = None, messages_client: Any = None,
                 gcp_conn_id: str = "google_cloud_default", page_size: int = 1000,
                 stop_margin: timedelta = timedelta(minutes=10), **backoff: Any):
        super().__init__(project, location, gcp_conn_id=gcp_conn_id, **backoff)
        self._client = client
        self._messages_client = messages_client
        self.page_size = page_size
        self.stop_margin = stop_margin

    @cached_property
    def client(self) -> Any:
        from google.cloud import dataflow_v1beta3

        return self._given_or_made(self._client, dataflow_v1beta3.JobsV1Beta3Client)

    @cached_property
    def messages_client(self) -> Any:
        from google.cloud import dataflow_v1beta3

        return self._given_or_made(self._messages_client, dataflow_v1beta3.MessagesV1Beta3Client)

    def changed_since(self, since: str) -> Iterator[ExternalJob]:
        from google.cloud import dataflow_v1beta3

        self._new_poll()
        after = parse_iso(since)
        # ACTIVE before TERMINATED: a job that ends between the two listings is then seen in the second.
        yield from self._listing(dataflow_v1beta3.ListJobsRequest.Filter.ACTIVE, after, stop_early=False)
        yield from self._listing(dataflow_v1beta3.ListJobsRequest.Filter.TERMINATED, after, stop_early=True)

    def get(self, job_id: str) -> ExternalJob:
        self._new_poll()
        return self._full(job_id)

    def _listing(self, which: Any, after: datetime, *, stop_early: bool) -> Iterator[ExternalJob]:
        from google.cloud import dataflow_v1beta3

        token, previous, newest_first = "", None, True
        while True:
            request = dataflow_v1beta3.ListJobsRequest(project_id=self.project, location=self.location,
                                                       filter=which, page_size=self.page_size, page_token=token)
            response = self._call(f"list_jobs ({which.name})", self.client.list_jobs, request=request)
            page_newest = None
            for job in response.jobs:
                changed = _moment(job.current_state_time) or _moment(job.create_time)
                if changed is None:
                    continue
                if previous is not None and changed > previous:
                    newest_first = False
                previous = changed
                page_newest = changed if page_newest is None else max(page_newest, changed)
                if changed <= after:
                    continue
                # A summary lacks the environment: read failed jobs in full, and running streaming ones (their
                # worker range is what remediation may change; they change state rarely, so they are few).
                status = DATAFLOW_STATUS.get(job.current_state.name)
                if status == FAILED or (status == RUNNING and job.type_.name == "JOB_TYPE_STREAMING"):
                    yield self._full(job.id)
                else:
                    yield from_dataflow(job, self.project, self.location)
            token = response.next_page_token
            if not token:
                return
            if stop_early and newest_first and page_newest is not None and page_newest <= after - self.stop_margin:
                log.debug("%s: %s jobs ended before %s from here on; not reading further pages", self.where,
                          which.name, iso(after))
                return

    def _full(self, job_id: str) -> ExternalJob:
        """The job as ``JOB_VIEW_DESCRIPTION`` shows it, with its error messages when it failed."""
        from google.cloud import dataflow_v1beta3

        request = dataflow_v1beta3.GetJobRequest(project_id=self.project, location=self.location, job_id=job_id,
                                                 view=dataflow_v1beta3.JobView.JOB_VIEW_DESCRIPTION)
        job = self._call("get_job", self.client.get_job, request=request)
        error = self._error_text(job_id) if DATAFLOW_STATUS.get(job.current_state.name) == FAILED else ""
        return from_dataflow(job, self.project, self.location, error)

    def _error_text(self, job_id: str) -> str:
        """The job's error-level messages, oldest first (the first one is usually the cause), capped."""
        from google.cloud import dataflow_v1beta3

        texts: list[str] = []
        size, token = 0, ""
        while size <= MAX_ERROR_CHARS:
            request = dataflow_v1beta3.ListJobMessagesRequest(
                project_id=self.project, location=self.location, job_id=job_id, page_size=100, page_token=token,
                minimum_importance=dataflow_v1beta3.JobMessageImportance.JOB_MESSAGE_ERROR)
            response = self._call("list_job_messages", self.messages_client.list_job_messages, request=request)
            for message in response.job_messages:
                texts.append(message.message_text)
                size += len(message.message_text)
            token = response.next_page_token
            if not token:
                break
        return join_errors(texts)


# -- Cloud Workflows ----------------------------------------------------------------------------------


def workflows_error(execution: Any) -> str:
    """An execution's error text: its context, payload, stack trace and state error."""
    parts = []
    if "error" in execution:
        error = execution.error
        parts += [error.context, error.payload]
        frames = [f"at step {e.step!r} (routine {e.routine!r}, line {e.position.line}, column {e.position.column})"
                  for e in error.stack_trace.elements]
        if frames:
            parts.append("\n".join(frames))
    if "state_error" in execution and execution.state_error.details:
        parts.append(f"{execution.state_error.type_.name}: {execution.state_error.details}")
    return join_errors(parts)


def from_workflows(execution: Any) -> ExternalJob:
    """A ``workflows.executions_v1.Execution`` as an :class:`ExternalJob`."""
    name = execution.name
    workflow, _, _ = name.partition("/executions/")
    parts = name.split("/")
    project, location = (parts[1], parts[3]) if len(parts) > 5 else ("", "")
    state = execution.state.name
    status = WORKFLOWS_STATUS.get(state, PENDING)
    started, ended = _moment(execution.start_time), _moment(execution.end_time)
    changed = ended or started
    return ExternalJob(
        job_type="workflows", job_id=name, job_name=workflow.rsplit("/", 1)[-1], status=status, state=state,
        project=project, location=location, changed_at=iso(changed) if changed else "",
        start_time=iso(started) if started else None, end_time=iso(ended) if ended else None,
        error_message=workflows_error(execution) if status == FAILED else "", labels=dict(execution.labels),
        details={"workflow": workflow, "argument": execution.argument,
                 "revision": execution.workflow_revision_id})


class WorkflowsSource(_Source):
    """Cloud Workflows executions of one project and region.

    :param project: the project whose executions are polled.
    :param location: the workflows' region.
    :param workflows: workflow ids (or ``projects/P/locations/L/workflows/W`` names) whose executions are
        polled; empty: every workflow of the region (listed each poll).
    :param client: a ``workflows_v1.WorkflowsClient``, to list the workflows (made on first use).
    :param executions_client: a ``workflows.executions_v1.ExecutionsClient`` (made on first use).
    :param gcp_conn_id: the Airflow connection whose credentials the clients use.
    :param page_size: executions per page; 100 is the most the ``FULL`` view allows.
    The backoff parameters are those of the shared source.
    """

    job_type = "workflows"
    service = "Cloud Workflows"

    def __init__(self, project: str, location: str, *, workflows: Iterable[str] = (), client: Any = None,
                 executions_client: Any = None, gcp_conn_id: str = "google_cloud_default", page_size: int = 100,
                 **backoff: Any):
        super().__init__(project, location, gcp_conn_id=gcp_conn_id, **backoff)
        self.workflows = tuple(workflows)
        self._client = client
        self._executions_client = executions_client
        self.page_size = page_size

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @cached_property
    def client(self) -> Any:
        from google.cloud import workflows_v1

        return self._given_or_made(self._client, workflows_v1.WorkflowsClient)

    @cached_property
    def executions_client(self) -> Any:
        from google.cloud.workflows import executions_v1

        return self._given_or_made(self._executions_client, executions_v1.ExecutionsClient)

    def workflow_names(self) -> list[str]:
        """The resource names of the workflows polled: the configured ones, else every one in the region."""
        if self.workflows:
            return [w if w.startswith("projects/") else f"{self.parent}/workflows/{w}" for w in self.workflows]
        from google.cloud import workflows_v1

        names, token = [], ""
        while True:
            request = workflows_v1.ListWorkflowsRequest(parent=self.parent, page_size=1000, page_token=token)
            response = self._call("list_workflows", self.client.list_workflows, request=request)
            names += [w.name for w in response.workflows]
            token = response.next_page_token
            if not token:
                return names

    def changed_since(self, since: str) -> Iterator[ExternalJob]:
        from google.api_core import exceptions as api
        from google.cloud.workflows import executions_v1

        self._new_poll()
        after = parse_iso(since)
        stamp = iso(after)
        # Changed after the watermark: ended after it, or (still running) started after it.
        where = f'startTime>"{stamp}" OR endTime>"{stamp}"'
        for workflow in self.workflow_names():
            token = ""
            while True:
                request = executions_v1.ListExecutionsRequest(
                    parent=workflow, page_size=self.page_size, page_token=token, filter=where,
                    order_by="startTime desc", view=executions_v1.ExecutionView.FULL)
                try:
                    response = self._call(f"list_executions of {workflow}", self.executions_client.list_executions,
                                          request=request)
                except api.NotFound:
                    if self.workflows:
                        raise
                    log.info("%s: workflow %s was deleted while polling; skipped", self.where, workflow)
                    break
                for execution in response.executions:
                    job = from_workflows(execution)
                    if job.changed_at and parse_iso(job.changed_at) > after:
                        yield job
                token = response.next_page_token
                if not token:
                    break

    def get(self, job_id: str) -> ExternalJob:
        from google.cloud.workflows import executions_v1

        self._new_poll()
        request = executions_v1.GetExecutionRequest(name=job_id, view=executions_v1.ExecutionView.FULL)
        return from_workflows(self._call("get_execution", self.executions_client.get_execution, request=request))


# -- BigQuery -----------------------------------------------------------------------------------------


def bigquery_job_id(job_id: str) -> tuple[str, str, str]:
    """``P:L.job_id`` as (project, location, job_id)."""
    project, sep, rest = job_id.partition(":")
    location, dot, bare = rest.partition(".")
    if not (sep and dot and project and location and bare):
        raise ValueError(f"BigQuery job id {job_id!r} is not project:location.job_id.")
    return project, location, bare


def from_bigquery(job: Any) -> ExternalJob:
    """A ``google.cloud.bigquery`` job (``QueryJob``, ``LoadJob``, ...) as an :class:`ExternalJob`."""
    error = job.error_result or {}
    state = job.state or "PENDING"
    if state == "DONE":
        # A cancelled job ends DONE with reason "stopped".
        status = (CANCELLED if error.get("reason") == "stopped" else FAILED) if error else SUCCEEDED
    else:
        status = BIGQUERY_STATUS.get(state, PENDING)
    changed = job.ended or job.started or job.created
    labels = dict(job.labels or {})
    try:
        configuration = job.to_api_repr().get("configuration") or {}
    except (KeyError, NotImplementedError):
        configuration = {}
    messages = ([_bq_error(error)] + [_bq_error(e) for e in job.errors or ()]) if error else []
    details: dict[str, Any] = {"configuration": configuration, "reason": error.get("reason", ""),
                               "kind": getattr(job, "job_type", "") or "",
                               "statement_type": getattr(job, "statement_type", None) or "",
                               "child_jobs": job.num_child_jobs, "parent_job_id": job.parent_job_id or ""}
    return ExternalJob(
        job_type="bigquery", job_id=f"{job.project}:{job.location}.{job.job_id}",
        job_name=labels.get("healer-name") or labels.get("airflow-task") or job.job_id, status=status,
        state=state, project=job.project, location=job.location or "", changed_at=iso(changed) if changed else "",
        start_time=iso(job.started or job.created) if (job.started or job.created) else None,
        end_time=iso(job.ended) if job.ended else None, error_message=join_errors(messages), labels=labels,
        details=details)


def _bq_error(error: dict[str, Any]) -> str:
    where = f" (at {error['location']})" if error.get("location") else ""
    return f"{error.get('reason', 'error')}: {error.get('message', '')}{where}"


def bigquery_retry() -> Any:
    """The BigQuery client's own retry for one page: transient server errors for up to a minute, but not
    quota answers (its default retries ``rateLimitExceeded`` for ten minutes; the source backs those off)."""
    import requests
    from google.api_core import exceptions as api
    from google.api_core import retry

    transient = retry.if_exception_type(api.InternalServerError, api.BadGateway, api.ServiceUnavailable,
                                        api.GatewayTimeout, requests.exceptions.ConnectionError)
    return retry.Retry(predicate=transient, initial=1.0, maximum=10.0, timeout=60.0)


class BigQuerySource(_Source):
    """BigQuery jobs of one project, every location and every user.

    The service account needs ``bigquery.jobs.listAll`` (``roles/bigquery.resourceViewer``) to see other
    users' jobs.

    :param project: the project whose jobs are polled.
    :param client: a ``google.cloud.bigquery.Client`` (made on first use when not given).
    :param gcp_conn_id: the Airflow connection whose credentials the client uses.
    :param page_size: jobs per page.
    :param max_job_runtime: how long before the watermark a job may have been created and still end after
        it (the list filters on creation time only).
    The backoff parameters are those of the shared source.
    """

    job_type = "bigquery"
    service = "BigQuery"

    def __init__(self, project: str, *, client: Any = None, gcp_conn_id: str = "google_cloud_default",
                 page_size: int = 1000, max_job_runtime: timedelta = timedelta(hours=6), **backoff: Any):
        super().__init__(project, "", gcp_conn_id=gcp_conn_id, **backoff)
        self._client = client
        self.page_size = page_size
        self.max_job_runtime = max_job_runtime

    @cached_property
    def client(self) -> Any:
        from google.cloud import bigquery

        if self._client is not None:
            return self._client
        return bigquery.Client(project=self.project, credentials=bigquery_credentials(self.gcp_conn_id))

    def changed_since(self, since: str) -> Iterator[ExternalJob]:
        self._new_poll()
        after = parse_iso(since)
        created_after = after - self.max_job_runtime
        retry = bigquery_retry()
        token = None
        while True:
            jobs, token = self._call("list_jobs", self._page, token=token, created_after=created_after, retry=retry)
            for job in jobs:
                changed = job.ended or job.started or job.created
                if changed is not None and changed > after:
                    yield from_bigquery(job)
            if not token:
                return

    def _page(self, *, token: str | None, created_after: datetime, retry: Any) -> tuple[list[Any], str | None]:
        """One page of ``jobs.list`` (the request is made when the page is read)."""
        listing = self.client.list_jobs(project=self.project, all_users=True, state_filter="done",
                                        min_creation_time=created_after, page_size=self.page_size,
                                        page_token=token, retry=retry)
        page = next(iter(listing.pages), None)
        return (list(page) if page is not None else []), listing.next_page_token

    def get(self, job_id: str) -> ExternalJob:
        self._new_poll()
        project, location, bare = bigquery_job_id(job_id)
        return from_bigquery(self._call("get_job", self.client.get_job, job_id=bare, project=project,
                                        location=location, retry=bigquery_retry()))


# -- from the configuration ---------------------------------------------------------------------------


def source_for(job_type: str, project: str, location: str, gcp_conn_id: str = "google_cloud_default") -> JobSource:
    """The source that reads jobs of ``job_type`` in one project and location (a sensor's, the consumer's)."""
    if job_type == "dataflow":
        return DataflowSource(project, location, gcp_conn_id=gcp_conn_id)
    if job_type == "workflows":
        return WorkflowsSource(project, location, gcp_conn_id=gcp_conn_id)
    if job_type == "bigquery":
        return BigQuerySource(project, gcp_conn_id=gcp_conn_id)
    raise ValueError(f"job_type is {job_type!r}; use dataflow, workflows or bigquery.")


def sources_from_config(config: Any) -> list[JobSource]:
    """The sources ``[healer] external_jobs``, ``external_projects``, ``external_locations`` and
    ``external_workflows`` name (a :class:`~airflow_healer.core.config.HealerConfig`); none when
    ``external_jobs`` is empty. Dataflow and Workflows are polled per project and location, BigQuery per
    project (its jobs list spans every location)."""
    types = config.external_job_types
    if not types:
        return []
    projects = config.external_project_ids or [connection_project(config.gcp_conn_id)]
    locations = config.external_location_ids
    if not locations and ("dataflow" in types or "workflows" in types):
        raise ConfigurationError("[healer] external_locations is empty: name the regions whose Dataflow jobs and "
                                 "Workflows executions are polled (external_locations = us-central1,europe-west1).")
    named = config.external_workflow_ids
    conn = config.gcp_conn_id
    sources: list[JobSource] = []
    for project in projects:
        for location in locations:
            if "dataflow" in types:
                sources.append(DataflowSource(project, location, gcp_conn_id=conn))
            if "workflows" in types:
                mine = [w for w in named if not w.startswith("projects/")
                        or w.startswith(f"projects/{project}/locations/{location}/workflows/")]
                if named and not mine:
                    continue  # the workflows named live elsewhere
                sources.append(WorkflowsSource(project, location, workflows=mine, gcp_conn_id=conn))
        if "bigquery" in types:
            sources.append(BigQuerySource(project, gcp_conn_id=conn))
    return sources
