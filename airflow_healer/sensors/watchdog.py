"""The watchdog's sensor: defers to :class:`HealerWatchdogTrigger` until some task failed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from airflow_healer.core.config import HealerConfig
from airflow_healer.triggers._settle import not_before
from airflow_healer.triggers.watchdog import HealerWatchdogTrigger


class HealerWatchdogSensor(BaseSensorOperator):
    """Wait, without holding a worker slot, until a task instance of any DAG failed after the
    watchdog's watermark; skip (and with it the run's recording task) when none did in time.

    :param airflow_api_conn_id: connection to Airflow's REST API (templated); ``[healer]`` default.
    :param poll_interval: seconds between the trigger's polls; ``[healer] watchdog_poll_seconds``.
    :param idle_timeout: seconds to wait for a failure before skipping; by default a bit less than the
        watchdog's interval for a scheduled run (the next one takes over), and
        ``[healer] watchdog_manual_wait_seconds`` for a run triggered by hand.
    :param deferrable: wait in the triggerer (default); False pokes from a worker slot instead.
    """

    template_fields: Sequence[str] = ("airflow_api_conn_id",)
    ui_color = "#fde2e4"

    def __init__(self, *, airflow_api_conn_id: str | None = None, poll_interval: float | None = None,
                 idle_timeout: float | None = None, deferrable: bool = True, **kwargs: Any):
        config = HealerConfig.load()
        interval = config.watchdog_interval_seconds
        self.scheduled_wait = max(60.0, interval - 60.0) if interval else config.watchdog_manual_wait_seconds
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval or config.watchdog_poll_seconds
        kwargs.setdefault("poke_interval", self.poll_interval)
        kwargs.setdefault("timeout", idle_timeout or self.scheduled_wait)
        kwargs.setdefault("soft_fail", True)  # poking mode: nothing failed in time is a skip, not an error
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id
        self.deferrable = deferrable
        self._since: tuple[str, bool] | None = None

    def _wait(self, context: Any, config: HealerConfig) -> float:
        if self.idle_timeout:
            return self.idle_timeout
        run = context.get("dag_run")
        run_type = str(getattr(run, "run_type", "") or "").lower()
        # Someone who triggers the watchdog by hand wants an answer soon, not at the next interval.
        wait = config.watchdog_manual_wait_seconds if "manual" in run_type else self.scheduled_wait
        return max(wait, config.watchdog_settle_seconds + 2 * self.poll_interval)

    def _watermark(self, config: HealerConfig) -> tuple[str, bool]:
        from airflow_healer.core.store import open_store
        from airflow_healer.core.watchdog import read_state, read_watermark

        store = open_store(config.store_url)
        return read_watermark(store, config), bool(read_state(store).get("inclusive"))

    def poke(self, context: Any) -> bool:
        from airflow_healer.hooks.airflow_api import AirflowApiHook

        config = HealerConfig.load()
        since, inclusive = self._since or self._watermark(config)
        self._since = (since, inclusive)
        until = (datetime.now(timezone.utc) - timedelta(seconds=config.watchdog_settle_seconds)).isoformat()
        hook = AirflowApiHook(self.airflow_api_conn_id or config.airflow_api_conn_id)
        page = hook.failed_task_instances(since=since, until=until, limit=1, inclusive=inclusive)
        return bool(page["total_entries"])

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        config = HealerConfig.load()
        since, inclusive = self._watermark(config)
        idle = self._wait(context, config)
        self.log.info("Waiting for task instances that failed after %s (polling every %.0fs, up to %.0fs)",
                      since, self.poll_interval, idle)
        self.defer(
            trigger=HealerWatchdogTrigger(
                airflow_api_conn_id=self.airflow_api_conn_id or config.airflow_api_conn_id, since=since,
                poll_interval=self.poll_interval, idle_timeout=idle,
                settle_seconds=config.watchdog_settle_seconds, inclusive=inclusive,
                not_before=not_before(config.defer_settle_seconds)),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "found":
            self.log.info("%s task instance(s) failed since %s", event.get("count"), event.get("since"))
            return event
        if status == "idle":
            raise AirflowSkipException(f"No task failed since {event.get('since')}; nothing to record.")
        raise AirflowException(f"The watchdog cannot watch: {event.get('message')}")
