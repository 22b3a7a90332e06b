"""Wait in the triggerer, with no worker slot, until one external job (Dataflow, Workflows, BigQuery) ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_healer.gcp.jobs import TERMINAL
from airflow_healer.gcp.sources import source_for as job_source
from airflow_healer.triggers._settle import first_event

#: Consecutive API errors after which the trigger gives up and says why.
MAX_ERRORS = 10


class ExternalJobTrigger(BaseTrigger):
    """Poll one job until it is terminal; fires ``{"status": "done", "job": {...}}`` with the job as the
    healer sees it, or ``{"status": "error", "message": ...}`` after ``MAX_ERRORS`` failed reads in a row.

    The clients are blocking: each read runs in a thread, so the triggerer's loop is never held. No event
    fires before ``not_before`` (epoch seconds; see :mod:`airflow_healer.triggers._settle`).
    """

    def __init__(self, *, job_type: str, job_id: str, project_id: str, location: str = "",
                 gcp_conn_id: str = "google_cloud_default", poll_interval: float = 30.0, not_before: float = 0.0):
        super().__init__()
        self.job_type, self.job_id, self.project_id, self.location = job_type, job_id, project_id, location
        self.gcp_conn_id, self.poll_interval, self.not_before = gcp_conn_id, poll_interval, not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("airflow_healer.triggers.external_job.ExternalJobTrigger", {
            "job_type": self.job_type, "job_id": self.job_id, "project_id": self.project_id,
            "location": self.location, "gcp_conn_id": self.gcp_conn_id, "poll_interval": self.poll_interval,
            "not_before": self.not_before})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await first_event(self._events(), self.not_before)

    async def _events(self) -> AsyncIterator[TriggerEvent]:
        errors = 0
        try:
            source = job_source(self.job_type, self.project_id, self.location, self.gcp_conn_id)
        except Exception as exc:  # noqa: BLE001 - a bad argument or connection: say it to the task
            yield TriggerEvent({"status": "error", "message": f"cannot read {self.job_type} jobs: {exc}"})
            return
        while True:
            try:
                job = await asyncio.to_thread(source.get, self.job_id)
                errors = 0
                if job.status in TERMINAL:
                    self.log.info("%s job %s ended %s", self.job_type, self.job_id, job.state)
                    yield TriggerEvent({"status": "done", "job": asdict(job)})
                    return
                self.log.info("%s job %s is %s", self.job_type, self.job_id, job.state)
            except Exception as exc:  # noqa: BLE001 - quota, network: tried again; a steady failure is said
                errors += 1
                self.log.warning("Reading %s job %s failed (%d in a row): %s", self.job_type, self.job_id, errors, exc)
                if errors >= MAX_ERRORS:
                    yield TriggerEvent({"status": "error", "message": (
                        f"reading {self.job_type} job {self.job_id} failed {errors} times in a row: "
                        f"{type(exc).__name__}: {exc}")})
                    return
            await asyncio.sleep(self.poll_interval)
