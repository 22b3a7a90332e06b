"""The watchdog's trigger: waits in the triggerer (no worker slot) until some task failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_healer.exceptions import AirflowApiError
from airflow_healer.triggers._api import AsyncAirflowApi, Refused
from airflow_healer.triggers._settle import first_event

FAILED_TIS = "/api/v2/dags/~/dagRuns/~/taskInstances"
#: Consecutive transport or server errors after which the trigger gives up and says why.
MAX_ERRORS = 10


class HealerWatchdogTrigger(BaseTrigger):
    """Poll Airflow's REST API until a task instance of any DAG failed after ``since``.

    Fires ``{"status": "found", "count": N, "since": ...}``; ``{"status": "idle"}`` when nothing
    failed within ``idle_timeout``; ``{"status": "error", "message": ...}`` when the API refuses the
    credentials or keeps failing.

    :param airflow_api_conn_id: connection to the REST API (see ``AirflowApiHook``).
    :param since: ISO timestamp: the watchdog's watermark.
    :param poll_interval: seconds between polls.
    :param idle_timeout: seconds to wait for a failure before firing ``idle``.
    :param settle_seconds: failures younger than this are left to the DAG's own healer for now.
    :param inclusive: count failures *at* ``since`` too (the last cycle stopped at its bound there).
    :param not_before: no event fires before this epoch second (see :mod:`airflow_healer.triggers._settle`).
    """

    def __init__(self, *, airflow_api_conn_id: str, since: str, poll_interval: float = 30.0,
                 idle_timeout: float = 540.0, settle_seconds: float = 30.0, inclusive: bool = False,
                 not_before: float = 0.0):
        super().__init__()
        self.airflow_api_conn_id = airflow_api_conn_id
        self.since = since
        self.inclusive = inclusive
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self.settle_seconds = settle_seconds
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("airflow_healer.triggers.watchdog.HealerWatchdogTrigger", {
            "airflow_api_conn_id": self.airflow_api_conn_id, "since": self.since,
            "poll_interval": self.poll_interval, "idle_timeout": self.idle_timeout,
            "settle_seconds": self.settle_seconds, "inclusive": self.inclusive, "not_before": self.not_before,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await first_event(self._events(), self.not_before)

    async def _events(self) -> AsyncIterator[TriggerEvent]:
        deadline = time.monotonic() + self.idle_timeout
        errors = 0
        try:
            async with AsyncAirflowApi(self.airflow_api_conn_id) as api:
                while True:
                    try:
                        until = (datetime.now(timezone.utc) - timedelta(seconds=self.settle_seconds)).isoformat()
                        page = await api.get(FAILED_TIS, {
                            "state": "failed", ("end_date_gte" if self.inclusive else "end_date_gt"): self.since,
                            "end_date_lte": until, "limit": 1}, forbidden=(
                                f"The '{self.airflow_api_conn_id}' user may not list task instances (403): give it "
                                "read rights on every DAG."))
                        count = int(page.get("total_entries", 0))
                        errors = 0
                        if count:
                            self.log.info("%d task instance(s) failed since %s", count, self.since)
                            yield TriggerEvent({"status": "found", "count": count, "since": self.since})
                            return
                    except (httpx.HTTPError, ValueError) as exc:
                        errors += 1
                        self.log.warning("Polling %s for failures failed (%d in a row): %s", api.base_url, errors, exc)
                        if errors >= MAX_ERRORS:
                            yield TriggerEvent({"status": "error", "message": (
                                f"Airflow's API at {api.base_url} failed {errors} times in a row: {exc}")})
                            return
                    if time.monotonic() >= deadline:
                        yield TriggerEvent({"status": "idle", "since": self.since})
                        return
                    await asyncio.sleep(self.poll_interval)
        except (Refused, AirflowApiError) as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})
