"""The watchdog's recording task: one :class:`~airflow_healer.core.watchdog.Watchdog` cycle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_healer.core.config import HealerConfig
from airflow_healer.hooks.airflow_api import AirflowApiHook


class WatchdogCycleOperator(BaseOperator):
    """Record and classify every task instance that failed since the last cycle, in every DAG the
    ``[healer] watchdog_include``/``watchdog_exclude`` patterns admit; retry those of the DAGs that
    ``watchdog_heal`` names. Returns the cycle's report.

    :param airflow_api_conn_id: connection to Airflow's REST API (templated); ``[healer]`` default.
    """

    template_fields: Sequence[str] = ("airflow_api_conn_id",)
    ui_color = "#fde2e4"

    def __init__(self, *, airflow_api_conn_id: str | None = None, **kwargs: Any):
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_healer.core.healer import Healer
        from airflow_healer.core.watchdog import Watchdog

        config = HealerConfig.load()
        if self.airflow_api_conn_id:
            config = config.replace(airflow_api_conn_id=self.airflow_api_conn_id)
        report = Watchdog(Healer(config), AirflowApiHook(config.airflow_api_conn_id)).cycle()
        self.log.info("%s", report.summary())
        for error in report.errors:
            self.log.warning("%s", error)
        return report.as_dict()
