"""The client calls that heal an external job; each returns the id of what it started.

Each call is safe to race: two healers acting on the same failure start one job (Dataflow: a deterministic
job name, BigQuery: a deterministic job id), except Workflows, whose API has no idempotency key (see
:func:`rerun_workflow`). Each refuses, with a ``ValueError`` saying why, what would not be safe. Clients are
made on first use with the credentials of the Airflow connection ``gcp_conn_id``; tests pass ``client=``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from airflow_healer.gcp.jobs import FAILED, RUNNING, ExternalJob
from airflow_healer.gcp.sources import (
    bigquery_credentials,
    bigquery_job_id,
    dataflow_details,
    google_credentials,
)

log = logging.getLogger(__name__)

#: Dataflow's job names: ``[a-z]([-a-z0-9]{0,1022}[a-z0-9])?``.
DATAFLOW_NAME_LIMIT = 1024
#: BigQuery's job ids: letters, digits, ``_`` and ``-``, at most 1,024 characters.
BIGQUERY_ID_LIMIT = 1024
#: The rung keys a relaunch understands; both runtime environments name them the same.
ENVIRONMENT_KEYS = ("machine_type", "max_workers", "num_workers")
_HEALER_SUFFIX = re.compile(r"-healer-\d+$")
_BQ_HEALER_SUFFIX = re.compile(r"_healer_\d+$")


def _label(value: str) -> str:
    """``value`` as a label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


# -- Dataflow -----------------------------------------------------------------------------------------


def relaunch_name(name: str, attempt: int) -> str:
    """The relaunched job's name: ``<name>-healer-<attempt>``, the same for the same failure and attempt,
    within Dataflow's name rules (an earlier ``-healer-N`` suffix is replaced, not stacked)."""
    base = _HEALER_SUFFIX.sub("", name.lower())
    base = re.sub(r"[^-a-z0-9]+", "-", base).strip("-")
    if not base or not base[0].isalpha():
        base = f"job-{base}".rstrip("-")
    suffix = f"-healer-{attempt}"
    return base[: DATAFLOW_NAME_LIMIT - len(suffix)].rstrip("-") + suffix


def relaunch_dataflow(job: ExternalJob, rule: dict[str, Any], environment: dict[str, Any], *, attempt: int,
                      client: Any = None, jobs_client: Any = None, gcp_conn_id: str = "google_cloud_default") -> str:
    """Launch the failed job again from its template, on the ``environment`` rung; returns the new job's id.

    Only one *active* job of a name may exist in a project and region: the API answers a launch under the
    name of an active job with that job (``Job.name``: "the attempt returns the existing job"), or with 409
    ALREADY_EXISTS, which is read here as "already relaunched" and answered with the active job's id. The name
    is ``<name>-healer-<attempt>`` (:func:`relaunch_name`), so two healers racing on one failure launch one
    job. Once that job has ended, the same name may be launched again: the healer's own record of the attempt
    (``act_once``) is what stops a second relaunch then.

    :param job: the failed Dataflow job.
    :param rule: its ``[healer] dataflow_relaunch`` rule: ``template`` (``gs://`` path of a classic template)
        or ``flex_template`` (``gs://...json`` of a flex template's spec), and ``parameters``.
    :param environment: the rung: ``machine_type``, ``max_workers``, ``num_workers`` (any may be absent).
    :param attempt: which relaunch this is (1 for the first).
    :param client: a ``TemplatesServiceClient`` (classic) or ``FlexTemplatesServiceClient`` (flex).
    :param jobs_client: a ``JobsV1Beta3Client``, to find the active job when the name is taken.
    """
    from google.api_core import exceptions as api
    from google.cloud import dataflow_v1beta3 as dataflow

    if job.job_type != "dataflow":
        raise ValueError(f"relaunch_dataflow relaunches Dataflow jobs, not the {job.job_type} job {job.job_id}.")
    template, flex = rule.get("template"), rule.get("flex_template")
    if bool(template) == bool(flex):
        raise ValueError(f"The relaunch rule of {job.job_name} needs one of template (gs://... of a classic "
                         "template) or flex_template (gs://....json).")
    unknown = sorted(set(environment) - set(ENVIRONMENT_KEYS) - {"min_workers"})
    if unknown:
        raise ValueError(f"The relaunch rung {environment} names {', '.join(unknown)}; a rung sets "
                         f"{', '.join(ENVIRONMENT_KEYS)}.")
    # min_workers is a streaming job's runtime bound (update_dataflow_workers), not a launch setting.
    env = {key: environment[key] for key in ENVIRONMENT_KEYS if environment.get(key) is not None}
    # healer-origin: the name the relaunch rule matched, kept through relaunches of relaunches.
    origin = job.labels.get("healer-origin") or _label(_HEALER_SUFFIX.sub("", job.job_name))
    labels = {"healer-origin": origin, "healer-relaunch-of": _label(job.job_id), "healer-attempt": str(attempt)}
    parameters = {str(k): str(v) for k, v in (rule.get("parameters") or {}).items()}
    name = relaunch_name(job.job_name, attempt)
    try:
        if template:
            client = client or dataflow.TemplatesServiceClient(credentials=google_credentials(gcp_conn_id))
            response = client.launch_template(request=dataflow.LaunchTemplateRequest(
                project_id=job.project, location=job.location, gcs_path=template,
                launch_parameters=dataflow.LaunchTemplateParameters(
                    job_name=name, parameters=parameters,
                    environment=dataflow.RuntimeEnvironment(additional_user_labels=labels, **env))))
        else:
            client = client or dataflow.FlexTemplatesServiceClient(credentials=google_credentials(gcp_conn_id))
            response = client.launch_flex_template(request=dataflow.LaunchFlexTemplateRequest(
                project_id=job.project, location=job.location,
                launch_parameter=dataflow.LaunchFlexTemplateParameter(
                    job_name=name, container_spec_gcs_path=flex, parameters=parameters,
                    environment=dataflow.FlexTemplateRuntimeEnvironment(additional_user_labels=labels, **env))))
    except (api.AlreadyExists, api.Conflict):
        active = _active_job(job, name, jobs_client, gcp_conn_id)
        log.info("Dataflow job %s is running already (%s): relaunched by another healer", name, active)
        return active
    if not response.job.id:
        raise ValueError(f"Dataflow accepted the relaunch of {job.job_name} as {name} but returned no job id.")
    log.info("Relaunched Dataflow job %s (%s) as %s (%s) on %s", job.job_name, job.job_id, name, response.job.id,
             env or "its template's environment")
    return response.job.id


def _active_job(job: ExternalJob, name: str, jobs_client: Any, gcp_conn_id: str) -> str:
    from google.cloud import dataflow_v1beta3 as dataflow

    client = jobs_client or dataflow.JobsV1Beta3Client(credentials=google_credentials(gcp_conn_id))
    response = client.list_jobs(request=dataflow.ListJobsRequest(
        project_id=job.project, location=job.location, name=name, filter=dataflow.ListJobsRequest.Filter.ACTIVE))
    for found in response.jobs:
        if found.name == name:
            return found.id
    raise ValueError(f"Dataflow refused {name} as a duplicate but no active job has that name in "
                     f"{job.project}/{job.location}; try the relaunch again.")


def update_dataflow_workers(job: ExternalJob, *, min_workers: int | None, max_workers: int | None,
                            client: Any = None, gcp_conn_id: str = "google_cloud_default") -> None:
    """Change a running streaming job's autoscaling range in place (``projects.locations.jobs.update`` with
    ``runtime_updatable_params`` and an ``update_mask``); the job keeps its id and state.

    Dataflow allows this for streaming jobs on Streaming Engine only; anything else is refused here. When
    ``job`` came from a list summary (no ``streaming_engine`` in its details) the job is read first.

    :param min_workers: the new lower bound (None: unchanged).
    :param max_workers: the new upper bound (None: unchanged).
    :param client: a ``JobsV1Beta3Client``.
    """
    from google.cloud import dataflow_v1beta3 as dataflow
    from google.protobuf import field_mask_pb2

    if job.job_type != "dataflow":
        raise ValueError(f"update_dataflow_workers changes Dataflow jobs, not the {job.job_type} job {job.job_id}.")
    if min_workers is None and max_workers is None:
        raise ValueError("update_dataflow_workers needs min_workers, max_workers or both.")
    for value in (min_workers, max_workers):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"A worker bound is a whole number of at least 1, not {value!r}.")
    if min_workers is not None and max_workers is not None and min_workers > max_workers:
        raise ValueError(f"min_workers {min_workers} is more than max_workers {max_workers}.")
    if job.status != RUNNING:
        raise ValueError(f"Dataflow job {job.job_name} ({job.job_id}) is {job.state}: only a running job's worker "
                         "range can change; relaunch it instead.")
    client = client or dataflow.JobsV1Beta3Client(credentials=google_credentials(gcp_conn_id))
    details = job.details
    if "streaming_engine" not in details:
        details = dataflow_details(client.get_job(request=dataflow.GetJobRequest(
            project_id=job.project, location=job.location, job_id=job.job_id,
            view=dataflow.JobView.JOB_VIEW_DESCRIPTION)))
    if details.get("job_kind") != "streaming" or not details.get("streaming_engine"):
        raise ValueError(f"Dataflow job {job.job_name} ({job.job_id}) is {details.get('job_kind', 'unknown')}"
                         f"{'' if details.get('streaming_engine') else ' without Streaming Engine'}: its worker range "
                         "can change in place only for a streaming job on Streaming Engine; relaunch it instead.")
    params, paths = dataflow.RuntimeUpdatableParams(), []
    if min_workers is not None:
        params.min_num_workers = min_workers
        paths.append("runtime_updatable_params.min_num_workers")
    if max_workers is not None:
        params.max_num_workers = max_workers
        paths.append("runtime_updatable_params.max_num_workers")
    client.update_job(request=dataflow.UpdateJobRequest(
        project_id=job.project, location=job.location, job_id=job.job_id,
        job=dataflow.Job(runtime_updatable_params=params), update_mask=field_mask_pb2.FieldMask(paths=paths)))
    log.info("Dataflow job %s (%s): workers now %s..%s", job.job_name, job.job_id, min_workers, max_workers)


# -- BigQuery -----------------------------------------------------------------------------------------


def rerun_id(job_id: str, attempt: int) -> str:
    """The rerun's job id: ``<job_id>_healer_<attempt>`` (an earlier ``_healer_N`` suffix replaced)."""
    suffix = f"_healer_{attempt}"
    return _BQ_HEALER_SUFFIX.sub("", job_id)[: BIGQUERY_ID_LIMIT - len(suffix)] + suffix


def rerun_bigquery(job: ExternalJob, *, attempt: int, client: Any = None,
                   gcp_conn_id: str = "google_cloud_default") -> str:
    """Run a failed BigQuery job again with its own configuration; returns the new job's ``P:L.job_id``.

    Safe to rerun because a failed BigQuery job commits nothing: a query, DML statement, load or copy either
    completes or leaves its tables as they were (an extract may have written some files, which the rerun
    writes again under the same URIs). The exception is a multi-statement script: each statement is a child
    job that commits on its own, so a failed script may have done half of its work; scripts (and their child
    jobs) are refused. The new id is ``<job_id>_healer_<attempt>``: a second healer racing on the same failure
    gets 409 Conflict from ``jobs.insert``, read here as "already rerun", and the same id is returned.

    The configuration is the job's own (``details["configuration"]``), less its output-only ``jobType`` and an
    anonymous destination table (``_...`` dataset: BigQuery makes a new one), with two labels added
    (``healer-rerun-of``, ``healer-attempt``).

    :param job: the failed BigQuery job.
    :param attempt: which rerun this is (1 for the first).
    :param client: a ``google.cloud.bigquery.Client``.
    """
    from google.api_core import exceptions as api
    from google.cloud import bigquery

    if job.job_type != "bigquery":
        raise ValueError(f"rerun_bigquery reruns BigQuery jobs, not the {job.job_type} job {job.job_id}.")
    if job.status != FAILED:
        raise ValueError(f"BigQuery job {job.job_id} is {job.status}, not failed: only a failed job, which "
                         "committed nothing, is rerun.")
    details = job.details
    if (details.get("statement_type") == "SCRIPT" or (details.get("child_jobs") or 0) > 0
            or details.get("parent_job_id")):
        raise ValueError(f"BigQuery job {job.job_id} is a multi-statement script (or one of its statements): its "
                         "statements commit one by one, so rerunning it could do work twice. A person should "
                         "look at which statements ran and rerun what is left.")
    configuration = _rerun_configuration(details.get("configuration") or {}, job.job_id, attempt)
    project, location, old_id = bigquery_job_id(job.job_id)
    new_id = rerun_id(old_id, attempt)
    full_id = f"{project}:{location}.{new_id}"
    client = client or bigquery.Client(project=project, credentials=bigquery_credentials(gcp_conn_id))
    try:
        _insert(client, configuration, new_id, project, location)
    except api.Conflict:
        log.info("BigQuery job %s exists already: rerun by another healer", full_id)
        return full_id
    log.info("Reran BigQuery job %s as %s", job.job_id, full_id)
    return full_id


def _rerun_configuration(configuration: dict[str, Any], job_id: str, attempt: int) -> dict[str, Any]:
    import copy

    config = copy.deepcopy(configuration)
    config.pop("jobType", None)
    kinds = [kind for kind in ("query", "load", "copy", "extract") if kind in config]
    if len(kinds) != 1:
        raise ValueError(f"BigQuery job {job_id} has no configuration the healer can rerun (a query, load, copy or "
                         "extract); read it with BigQuerySource.get first.")
    destination = (config.get("query") or {}).get("destinationTable") or {}
    if str(destination.get("datasetId", "")).startswith("_"):
        del config["query"]["destinationTable"]
    config["labels"] = {**(config.get("labels") or {}), "healer-rerun-of": _label(job_id.rpartition(".")[2]),
                        "healer-attempt": str(attempt)}
    return config


def _insert(client: Any, configuration: dict[str, Any], job_id: str, project: str, location: str) -> Any:
    """``jobs.insert`` of ``configuration`` under ``job_id``, through the client's public job methods
    (``Client.create_job`` takes no job id: it would insert under a random one)."""
    from google.cloud import bigquery

    where = {"job_id": job_id, "project": project, "location": location}
    if "query" in configuration:
        return client.query(configuration["query"]["query"], job_config=bigquery.QueryJobConfig.from_api_repr(
            configuration), job_retry=None, **where)
    if "load" in configuration:
        load = configuration["load"]
        return client.load_table_from_uri(load.get("sourceUris") or [], bigquery.TableReference.from_api_repr(
            load["destinationTable"]), job_config=bigquery.LoadJobConfig.from_api_repr(configuration), **where)
    if "copy" in configuration:
        return client.copy_table([], bigquery.TableReference.from_api_repr(configuration["copy"]["destinationTable"]),
                                 job_config=bigquery.CopyJobConfig.from_api_repr(configuration), **where)
    extract = configuration["extract"]
    source_type = "Model" if extract.get("sourceModel") else "Table"
    source = (bigquery.ModelReference.from_api_repr(extract["sourceModel"]) if source_type == "Model"
              else bigquery.TableReference.from_api_repr(extract["sourceTable"]))
    return client.extract_table(source, extract.get("destinationUris") or [], source_type=source_type,
                                job_config=bigquery.ExtractJobConfig.from_api_repr(configuration), **where)


# -- Cloud Workflows ----------------------------------------------------------------------------------


def rerun_workflow(job: ExternalJob, *, client: Any = None, gcp_conn_id: str = "google_cloud_default") -> str:
    """Start the failed execution's workflow again with the same argument; returns the new execution's name.

    ``executions.create`` takes no request id, so two healers racing on one failure would start two
    executions: the caller must hold the incident (the healer's ``act_once``) before calling. The new
    execution is labelled ``healer-rerun-of`` (the failed execution's id) for the audit.

    :param job: the failed Workflows execution (``details["workflow"]``, ``details["argument"]``).
    :param client: a ``workflows.executions_v1.ExecutionsClient``.
    """
    from google.cloud.workflows import executions_v1

    if job.job_type != "workflows":
        raise ValueError(f"rerun_workflow reruns Workflows executions, not the {job.job_type} job {job.job_id}.")
    if job.status != FAILED:
        raise ValueError(f"Workflows execution {job.job_id} is {job.status}, not failed: only a failed one is rerun.")
    workflow = job.details.get("workflow") or job.job_id.partition("/executions/")[0]
    if "/workflows/" not in workflow:
        raise ValueError(f"Workflows execution {job.job_id} names no workflow (projects/P/locations/L/workflows/W).")
    client = client or executions_v1.ExecutionsClient(credentials=google_credentials(gcp_conn_id))
    execution = client.create_execution(parent=workflow, execution=executions_v1.Execution(
        argument=job.details.get("argument") or "",
        labels={"healer-rerun-of": _label(job.job_id.rpartition("/")[2])}))
    log.info("Started workflow %s again (%s) after %s failed", workflow, execution.name, job.job_id)
    return execution.name
