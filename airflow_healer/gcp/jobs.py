"""An external job as the healer sees it, whichever service ran it.

Each service's source (:mod:`airflow_healer.gcp.sources`) turns its own job type into an
:class:`ExternalJob`; the poller, the sensor and the remediation work on that alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: Normalised statuses, whatever the service calls them.
RUNNING, SUCCEEDED, FAILED, CANCELLED, PENDING = "running", "succeeded", "failed", "cancelled", "pending"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass
class ExternalJob:
    """One Dataflow job, Cloud Workflows execution or BigQuery job.

    :param job_type: ``dataflow``, ``workflows`` or ``bigquery``.
    :param job_id: unique across services: the Dataflow job id, the execution's resource name
        (``projects/P/locations/L/workflows/W/executions/E``) or ``P:L.job_id`` for BigQuery.
    :param job_name: what people call it: the Dataflow job name, the workflow id, the BigQuery job's
        ``healer-name`` or ``airflow-task`` label, else its job id.
    :param status: one of the normalised statuses above.
    :param state: the service's own state name (``JOB_STATE_FAILED``, ``FAILED``, ``DONE``).
    :param changed_at: when the service last changed the job (ISO 8601, UTC): the poll's watermark.
    :param error_message: for a failed job, its error messages joined (Dataflow's error-level job
        messages, the execution's error payload and context, BigQuery's error result and errors).
    :param details: what remediation needs, per service: Dataflow ``job_kind`` (``batch``/``streaming``),
        ``streaming_engine``, ``machine_type``, ``num_workers``, ``max_workers``, ``min_workers``;
        Workflows ``workflow`` (its resource name) and ``argument``; BigQuery ``configuration`` (the
        job's API configuration) and ``reason`` (its error result's reason).
    """

    job_type: str
    job_id: str
    job_name: str
    status: str
    state: str
    project: str
    location: str
    changed_at: str
    start_time: str | None = None
    end_time: str | None = None
    error_message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if not self.start_time or not self.end_time:
            return None
        start = datetime.fromisoformat(self.start_time.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.end_time.replace("Z", "+00:00"))
        return max((end - start).total_seconds(), 0.0)

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def row(self, **extra: Any) -> dict[str, Any]:
        """The ``pipeline_jobs`` row of this job (``extra``: error_type, incident_id)."""
        return {"job_id": self.job_id, "job_name": self.job_name, "job_type": self.job_type,
                "status": self.status, "start_time": self.start_time, "end_time": self.end_time,
                "duration_seconds": self.duration_seconds, "error_message": self.error_message,
                "project": self.project, "location": self.location, **extra}


def console_url(job_type: str, job_id: str, project: str, location: str) -> str:
    """The job's page in the Google Cloud console."""
    from urllib.parse import quote

    console = "https://console.cloud.google.com"
    if job_type == "dataflow":
        return f"{console}/dataflow/jobs/{quote(location, safe='')}/{quote(job_id, safe='')}?project={quote(project)}"
    if job_type == "workflows":  # projects/P/locations/L/workflows/W/executions/E
        parts = job_id.split("/")
        if len(parts) == 8:
            return (f"{console}/workflows/workflow/{quote(parts[3])}/{quote(parts[5])}/execution/{quote(parts[7])}"
                    f"?project={quote(parts[1])}")
        return f"{console}/workflows?project={quote(project)}"
    if job_type == "bigquery":  # P:L.id
        owner, _, rest = job_id.partition(":")
        where, _, bare = rest.partition(".")
        return f"{console}/bigquery?project={quote(owner or project)}&j=bq:{quote(where)}:{quote(bare)}&page=queryresults"
    return console


class JobSource(Protocol):
    """One service's jobs in one project and location."""

    job_type: str

    def changed_since(self, since: str) -> Iterator[ExternalJob]:
        """Jobs the service changed after ``since`` (ISO 8601, UTC), page by page; failed ones with their
        error messages. Backs off on 429 / RESOURCE_EXHAUSTED and raises :class:`PollQuotaExceeded` when
        the quota does not recover within the source's budget."""

    def get(self, job_id: str) -> ExternalJob:
        """The job now (as :meth:`changed_since` gives it)."""


class PollQuotaExceeded(Exception):
    """The service kept answering 429 / RESOURCE_EXHAUSTED; poll it again next cycle."""
