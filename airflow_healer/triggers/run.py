"""The healer task's trigger: waits in the triggerer (no worker slot) until its run needs it again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_healer.core.remediate.run import TERMINAL
from airflow_healer.exceptions import AirflowApiError
from airflow_healer.triggers._api import AsyncAirflowApi, Refused
from airflow_healer.triggers._settle import first_event

#: Consecutive transport or server errors after which the trigger hands back to the task, which says why.
MAX_ERRORS = 10


class HealerRunTrigger(BaseTrigger):
    """Poll one DAG run through the REST API until the healer task has something to do.

    Fires ``{"status": "due"}`` at ``until`` (a backoff ended, a proposal expired);
    ``{"status": "changed", "why": ...}`` when a try failed that the healer has not seen, a task it
    cleared finished, or every task finished; ``{"status": "decided", "proposals": [...]}`` when a
    person decided a proposal from the command line; ``{"status": "timeout"}`` after ``max_wait``
    (the healer looks once more and waits again); ``{"status": "error", "message": ...}`` when the
    API refuses the healer or keeps failing.

    :param wait: :class:`~airflow_healer.core.remediate.run.Wait` as a dict (``until``, ``failed``,
        ``pending``, ``all_terminal``, ``proposals``; ``only_pending`` watches the pending tasks alone, for an
        operator that cleared one task of another run).
    :param own_task_ids: the healer's own tasks, never watched.
    :param store_url: the healer store, where CLI decisions on ``proposals`` land.
    :param not_before: no event fires before this epoch second (see :mod:`airflow_healer.triggers._settle`).
    """

    def __init__(self, *, airflow_api_conn_id: str, dag_id: str, run_id: str, own_task_ids: list[str],
                 wait: dict[str, Any], store_url: str = "", poll_interval: float = 3.0, max_wait: float = 600.0,
                 not_before: float = 0.0):
        super().__init__()
        self.airflow_api_conn_id = airflow_api_conn_id
        self.dag_id = dag_id
        self.run_id = run_id
        self.own_task_ids = list(own_task_ids)
        self.wait = wait
        self.store_url = store_url
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("airflow_healer.triggers.run.HealerRunTrigger", {
            "airflow_api_conn_id": self.airflow_api_conn_id, "dag_id": self.dag_id, "run_id": self.run_id,
            "own_task_ids": self.own_task_ids, "wait": self.wait, "store_url": self.store_url,
            "poll_interval": self.poll_interval, "max_wait": self.max_wait, "not_before": self.not_before,
        })

    def changed(self, tis: list[dict[str, Any]]) -> str:
        """Why these task instances need the healer now ('' when they do not)."""
        known_failed = {(t, int(m), int(n)) for t, m, n in self.wait.get("failed", [])}
        pending = {(t, int(m)): int(n) for t, m, n in self.wait.get("pending", [])}
        watched = [ti for ti in tis if ti["task_id"] not in self.own_task_ids]
        only_pending = bool(self.wait.get("only_pending"))
        for ti in watched:
            key = (ti["task_id"], int(ti.get("map_index", -1)))
            try_number = int(ti.get("try_number") or 1)
            if only_pending and key not in pending:
                continue
            if ti["state"] == "failed" and (*key, try_number) not in known_failed:
                if key not in pending or try_number > pending[key]:
                    return f"{_name(key)} try {try_number} failed"
            if key in pending and ti["state"] in TERMINAL and not (
                    ti["state"] == "failed" and try_number <= pending[key]):
                return f"{_name(key)} try {try_number} ended {ti['state']}"
        if not only_pending and not self.wait.get("all_terminal") and watched and all(ti["state"] in TERMINAL for ti in watched):
            return "every task of the run has finished"
        return ""

    def _decided(self) -> list[str]:
        from airflow_healer.core.store import open_store

        store = open_store(self.store_url)
        decided = []
        for proposal_id in self.wait.get("proposals", []):
            proposal = store.get_proposal(proposal_id)
            if proposal is None or proposal["status"] != "pending":
                decided.append(proposal_id)
        return decided

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await first_event(self._events(), self.not_before)

    async def _events(self) -> AsyncIterator[TriggerEvent]:
        path = f"/api/v2/dags/{quote(self.dag_id, safe='')}/dagRuns/{quote(self.run_id, safe='')}/taskInstances"
        until = self.wait.get("until")
        give_up = time.time() + self.max_wait
        errors = 0
        try:
            async with AsyncAirflowApi(self.airflow_api_conn_id) as api:
                while True:
                    if until is not None and time.time() >= until:
                        yield TriggerEvent({"status": "due"})
                        return
                    try:
                        tis = await self._task_instances(api, path)
                        errors = 0
                        why = self.changed(tis)
                        if why:
                            self.log.info("The run needs the healer: %s", why)
                            yield TriggerEvent({"status": "changed", "why": why})
                            return
                    except (httpx.HTTPError, ValueError, KeyError) as exc:
                        errors += 1
                        self.log.warning("Polling %s failed (%d in a row): %s", api.base_url, errors, exc)
                        if errors >= MAX_ERRORS:
                            yield TriggerEvent({"status": "error", "message": (
                                f"Airflow's API at {api.base_url} failed {errors} times in a row: {exc}")})
                            return
                    if self.wait.get("proposals") and self.store_url:
                        try:
                            decided = await asyncio.to_thread(self._decided)
                        except Exception as exc:  # noqa: BLE001 - the store may be down a while; keep watching
                            self.log.warning("Could not read the proposals from the healer store: %s", exc)
                            decided = []
                        if decided:
                            yield TriggerEvent({"status": "decided", "proposals": decided})
                            return
                    now = time.time()
                    if now >= give_up:
                        yield TriggerEvent({"status": "timeout"})
                        return
                    nap = self.poll_interval if until is None else min(self.poll_interval, max(until - now, 0.0))
                    await asyncio.sleep(nap)
        except (Refused, AirflowApiError) as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})

    @staticmethod
    async def _task_instances(api: AsyncAirflowApi, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = await api.get(path, {"limit": 100, "offset": len(out)})
            out.extend(page["task_instances"])
            if len(out) >= page["total_entries"] or not page["task_instances"]:
                return out


def _name(key: tuple[str, int]) -> str:
    return key[0] if key[1] < 0 else f"{key[0]}[{key[1]}]"
