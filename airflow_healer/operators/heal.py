"""The healer task: heals the failed tasks of its own DAG run, then reports the run's truth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.run import RunHealer
from airflow_healer.exceptions import RunNotFound
from airflow_healer.hooks.airflow_api import AirflowApiHook


class HealOperator(BaseOperator):
    """Heal this DAG run: classify each failed task, retry the retryable ones through the REST API,
    wait for every other task to finish, and fail when anything is left unhealed.

    Failing is deliberate: the healer is the run's only leaf, and a run's state follows its leaves,
    so a healer that succeeded over an unhealed task would paint a broken run green.

    :param airflow_api_conn_id: connection to Airflow's REST API (templated); ``[healer]`` default.
    :param max_attempts: retries per task in this run; ``[healer] max_attempts`` by default.
    :param mode: ``observe``, ``recommend`` or ``act``; ``[healer] mode`` by default.
    :param healer: a ready :class:`Healer` (tests, custom stores); built from the config otherwise.
    """

    template_fields: Sequence[str] = ("airflow_api_conn_id",)
    ui_color = "#d8f3dc"

    def __init__(
        self,
        *,
        airflow_api_conn_id: str | None = None,
        max_attempts: int | None = None,
        mode: str | None = None,
        healer: Healer | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("trigger_rule", TriggerRule.ONE_FAILED)
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id
        self.max_attempts = max_attempts
        self.mode = mode
        self.healer = healer

    def _config(self) -> HealerConfig:
        overrides = {k: v for k, v in (("airflow_api_conn_id", self.airflow_api_conn_id),
                                       ("max_attempts", self.max_attempts), ("mode", self.mode)) if v is not None}
        return HealerConfig.load().replace(**overrides)

    def execute(self, context: Any) -> dict[str, list[str]]:
        healer = self.healer or Healer(self._config())
        dag = context["dag"]
        own = {t.task_id for t in dag.tasks if isinstance(t, HealOperator)}
        try:
            report = RunHealer(
                healer,
                AirflowApiHook(healer.config.airflow_api_conn_id),
                dag_id=dag.dag_id,
                run_id=context["run_id"],
                own_task_ids=own,
                downstream=lambda task_id: dag.get_task(task_id).get_flat_relative_ids(upstream=False),
            ).run()
        except RunNotFound as exc:
            raise AirflowFailException(
                f"The DAG run {context['run_id']} no longer exists (deleted while healing?): {exc}"
            ) from exc
        for name in report.healed:
            self.log.info("Healed %s", name)
        if not report.ok:
            raise AirflowFailException(
                "This run is not healed: " + "; ".join(report.unhealed)
                + ". See `airflow-healer incidents list` for the incidents."
            )
        return {"healed": report.healed}
