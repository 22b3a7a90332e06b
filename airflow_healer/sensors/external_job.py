"""Wait on one job outside Airflow, and heal it while waiting: :class:`ExternalJobSensor`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_healer.core.config import HealerConfig
from airflow_healer.gcp.jobs import SUCCEEDED, TERMINAL, ExternalJob
from airflow_healer.triggers._settle import not_before
from airflow_healer.triggers.external_job import ExternalJobTrigger, job_source


class ExternalJobSensor(BaseOperator):
    """Wait until a Dataflow job, Cloud Workflows execution or BigQuery job ends, in the triggerer (no
    worker slot); keep it as a ``pipeline_jobs`` row, and when it fails, classify it and heal it as the
    healer heals a task: rerun a BigQuery job or a workflow, relaunch a Dataflow job from its
    ``[healer] dataflow_relaunch`` template (one rung up for resource errors), then wait on the new job.
    Risky fixes become proposals. Returns the id of the job that succeeded (an XCom); fails with the
    job's error, and what the healer made of it, when it cannot heal it.

    ``launch >> ExternalJobSensor(task_id="wait", job_type="dataflow", job_id="{{ ti.xcom_pull('launch')['id'] }}")``

    :param job_type: ``dataflow``, ``workflows`` or ``bigquery``.
    :param job_id: the Dataflow job id; the execution's name (``projects/P/locations/L/workflows/W/executions/E``)
        or its id with ``workflow_id``; the BigQuery job id (templated).
    :param project_id: the job's project (templated); the ``gcp_conn_id`` connection's by default.
    :param location: its region (templated); BigQuery's default is ``US``.
    :param workflow_id: the workflow of an execution given by its id alone.
    :param heal: act on a failure (default True); False records and classifies only.
    :param poll_interval: seconds between the trigger's reads.
    :param gcp_conn_id: the Google Cloud connection; ``[healer] gcp_conn_id`` by default.
    :param deferrable: wait in the triggerer (default); False reads from the worker slot every ``poll_interval``.
    """

    template_fields: Sequence[str] = ("job_id", "project_id", "location", "workflow_id")
    ui_color = "#e2ecfd"

    def __init__(self, *, job_type: str, job_id: str, project_id: str | None = None, location: str | None = None,
                 workflow_id: str | None = None, heal: bool = True, poll_interval: float = 30.0,
                 gcp_conn_id: str | None = None, deferrable: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        if job_type not in ("dataflow", "workflows", "bigquery"):
            raise ValueError(f"job_type is {job_type!r}; use dataflow, workflows or bigquery.")
        self.job_type, self.job_id, self.project_id = job_type, job_id, project_id
        self.location, self.workflow_id, self.heal = location, workflow_id, heal
        self.poll_interval, self.gcp_conn_id, self.deferrable = poll_interval, gcp_conn_id, deferrable

    # -- where the job is --------------------------------------------------------------------------

    def _conn_id(self) -> str:
        return self.gcp_conn_id or HealerConfig.load().gcp_conn_id

    def _project(self) -> str:
        if self.project_id:
            return self.project_id
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

        project = GoogleBaseHook(gcp_conn_id=self._conn_id()).project_id
        if not project:
            raise AirflowException(f"No project_id given and the {self._conn_id()!r} connection names none.")
        return project

    def _location(self) -> str:
        return self.location or ("US" if self.job_type == "bigquery" else "us-central1")

    def full_job_id(self, job_id: str | None = None) -> str:
        """The id the sources use: ``P:L.id`` for BigQuery, the execution's resource name for Workflows."""
        job_id = str(job_id or self.job_id).strip()
        if self.job_type == "bigquery" and ":" not in job_id:
            return f"{self._project()}:{self._location()}.{job_id}"
        if self.job_type == "workflows" and not job_id.startswith("projects/"):
            if not self.workflow_id:
                raise AirflowException("A Workflows execution given by its id needs workflow_id, or give its name "
                                       "projects/P/locations/L/workflows/W/executions/E.")
            return (f"projects/{self._project()}/locations/{self._location()}/workflows/{self.workflow_id}"
                    f"/executions/{job_id}")
        return job_id

    def _trigger(self, job_id: str) -> ExternalJobTrigger:
        return ExternalJobTrigger(job_type=self.job_type, job_id=job_id, project_id=self._project(),
                                  location=self._location(), gcp_conn_id=self._conn_id(),
                                  poll_interval=self.poll_interval,
                                  not_before=not_before(HealerConfig.load().defer_settle_seconds))

    # -- waiting -----------------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        job_id = self.full_job_id()
        source = job_source(self.job_type, self._project(), self._location(), self._conn_id())
        job = source.get(job_id)
        if job.status in TERMINAL:
            return self._ended(job, context)
        self.log.info("%s job %s is %s; waiting for it to end", self.job_type, job_id, job.state)
        if not self.deferrable:
            return self._poke_until_done(source, job_id, context)
        self.defer(trigger=self._trigger(job_id), method_name="execute_complete")

    def _poke_until_done(self, source: Any, job_id: str, context: Any) -> Any:
        import time

        while True:
            time.sleep(self.poll_interval)
            job = source.get(job_id)
            if job.status in TERMINAL:
                return self._ended(job, context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if event.get("status") != "done":
            raise AirflowException(f"Cannot wait on the {self.job_type} job: {event.get('message')}")
        return self._ended(ExternalJob(**event["job"]), context)

    def _ended(self, job: ExternalJob, context: Any) -> Any:
        outcome = None
        try:
            from airflow_healer.core.healer import Healer
            from airflow_healer.gcp.heal import ExternalHealer

            outcome = ExternalHealer(Healer(HealerConfig.load())).observe(job, heal=self.heal)
        except Exception as exc:  # noqa: BLE001 - the store down must not change what the job did
            self.log.warning("Could not record %s job %s in the healer's store: %s", job.job_type, job.job_id, exc)
        if job.status == SUCCEEDED:
            self.log.info("%s job %s succeeded", job.job_type, job.job_id)
            return job.job_id
        if outcome is not None and outcome.started and outcome.started != job.job_id:
            self.log.info("%s job %s ended %s; the healer %s; waiting on %s", job.job_type, job.job_id, job.state,
                          outcome.reason, outcome.started)
            if not self.deferrable:
                source = job_source(self.job_type, self._project(), self._location(), self._conn_id())
                return self._poke_until_done(source, outcome.started, context)
            self.defer(trigger=self._trigger(outcome.started), method_name="execute_complete")
        said = f"; the healer: {outcome.reason}" if outcome is not None and outcome.reason else ""
        error = job.error_message or "no error message"
        raise AirflowException(f"{job.job_type} job {job.job_id} ended {job.state}: {error[:4000]}{said}")
