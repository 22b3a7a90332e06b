"""The operator suite: one action each, thin over :mod:`airflow_healer.core.remediate.manual`.

They act on a failed task instance of any DAG run (templated ``dag_id``, ``run_id``, ``task_id``,
``map_index``), through the REST API, recording what they do like the healer task does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_healer.core.config import HealerConfig
from airflow_healer.hooks.airflow_api import AirflowApiHook


class _TaskInstanceOperator(BaseOperator):
    """What the suite shares: the target task instance and the healer's settings.

    :param target_dag_id: the DAG of the failed task instance (templated).
    :param target_run_id: its run (templated).
    :param target_task_id: the task (templated).
    :param target_map_index: its map index, -1 for an unmapped task (templated).
    :param airflow_api_conn_id: connection to Airflow's REST API (templated); ``[healer]`` default.
    """

    template_fields: Sequence[str] = ("target_dag_id", "target_run_id", "target_task_id", "target_map_index",
                                      "airflow_api_conn_id")
    ui_color = "#d8f3dc"

    def __init__(self, *, target_dag_id: str, target_run_id: str, target_task_id: str,
                 target_map_index: int | str = -1, airflow_api_conn_id: str | None = None, **kwargs: Any):
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.target_dag_id = target_dag_id
        self.target_run_id = target_run_id
        self.target_task_id = target_task_id
        self.target_map_index = target_map_index
        self.airflow_api_conn_id = airflow_api_conn_id

    def _healer(self) -> Any:
        from airflow_healer.core.healer import Healer

        config = HealerConfig.load()
        if self.airflow_api_conn_id:
            config = config.replace(airflow_api_conn_id=self.airflow_api_conn_id)
        return Healer(config)

    def _request(self, context: Any, strategy: str, dry_run: bool, reason: str = "") -> Any:
        from airflow_healer.core.remediate.manual import Request

        run = context.get("dag_run")
        user = getattr(run, "triggering_user_name", None) or ""
        return Request(dag_id=str(self.target_dag_id), run_id=str(self.target_run_id),
                       task_id=str(self.target_task_id), map_index=int(self.target_map_index),
                       strategy=strategy, dry_run=dry_run, reason=reason, user=user)

    def _run(self, context: Any, strategy: str, dry_run: bool, reason: str = "", wait_seconds: float = 1800) -> Any:
        """Act, then wait for the task's next try without a worker slot (deferred to the triggerer)."""
        from airflow_healer.core.remediate.manual import RemediationRefused, remediate

        healer = self._healer()
        request = self._request(context, strategy, dry_run, reason)
        try:
            result = remediate(healer, AirflowApiHook(healer.config.airflow_api_conn_id), request,
                               wait_seconds=wait_seconds, wait=False)
        except RemediationRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        if result.outcome == "pending":
            self._wait_for_try(healer, request, result.as_dict(), wait_seconds)
        return self._report(result, dry_run)

    def _wait_for_try(self, healer: Any, request: Any, result: dict[str, Any], wait_seconds: float) -> None:
        from airflow_healer.triggers._settle import not_before
        from airflow_healer.triggers.run import HealerRunTrigger

        self.log.info("Cleared %s.%s try %s; waiting for its next try without a worker slot", request.dag_id,
                      request.task_id, result["acted"]["cleared_try"])
        self.defer(
            trigger=HealerRunTrigger(
                airflow_api_conn_id=healer.config.airflow_api_conn_id, dag_id=request.dag_id, run_id=request.run_id,
                own_task_ids=[], poll_interval=max(healer.config.poll_interval_seconds, 2.0),
                max_wait=wait_seconds + 60, not_before=not_before(healer.config.defer_settle_seconds),
                wait={"until": time.time() + wait_seconds, "failed": [], "all_terminal": True, "proposals": [],
                      "only_pending": True,
                      "pending": [[request.task_id, request.map_index, result["acted"]["cleared_try"]]]}),
            method_name="execute_complete",
            kwargs={"result": result, "request": vars(request), "wait_seconds": wait_seconds},
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
                         request: dict[str, Any] | None = None, wait_seconds: float = 1800) -> Any:
        """The cleared task's next try ended (or the wait did): record how."""
        from airflow_healer.core.remediate.manual import Request, Result, check_outcome, conclude
        from airflow_healer.core.types import Outcome

        assert result is not None and request is not None
        self.target_dag_id, self.target_run_id, self.target_task_id = (
            request["dag_id"], request["run_id"], request["task_id"])
        healer = self._healer()
        req, res = Request(**request), Result.from_dict(result)
        outcome, detail = check_outcome(AirflowApiHook(healer.config.airflow_api_conn_id), req,
                                        int(res.acted["cleared_try"]))
        if outcome is None:
            outcome, detail = Outcome.PENDING, f"{detail} after {wait_seconds:.0f}s"
            if (event or {}).get("status") == "error":
                detail += f" (the trigger could not watch the run: {event.get('message')})"
        return self._report(conclude(healer, res, outcome, detail), req.dry_run)

    def _apply(self, context: Any, proposal_id: str, wait_seconds: float) -> Any:
        """Carry out an approved proposal, then wait for its task's next try (deferred)."""
        from airflow_healer.core.remediate.manual import RemediationRefused, apply_proposal

        healer = self._healer()
        run = context.get("dag_run")
        user = getattr(run, "triggering_user_name", None) or ""
        try:
            request, result = apply_proposal(healer, AirflowApiHook(healer.config.airflow_api_conn_id),
                                             proposal_id.strip(), user=user, wait=False, wait_seconds=wait_seconds)
        except RemediationRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        self.target_dag_id, self.target_run_id, self.target_task_id = request.dag_id, request.run_id, request.task_id
        if result.outcome == "pending":
            self._wait_for_try(healer, request, result.as_dict(), wait_seconds)
        return self._report(result, False)

    def _report(self, result: Any, dry_run: bool) -> Any:
        self.log.info("%s.%s: %s (%.2f); %s -> %s: %s", self.target_dag_id, self.target_task_id, result.error_type,
                      result.confidence, result.verdict, result.outcome, result.detail or result.plan)
        if not dry_run and result.verdict == "act" and result.outcome != "success":
            raise AirflowFailException(f"The remediation did not heal the task: {result.detail}")
        if result.verdict != "act" and not dry_run:
            raise AirflowFailException(f"Nothing was done: {result.plan}")
        return result.as_dict()


class ClassifyErrorOperator(_TaskInstanceOperator):
    """Classify one failed task instance (from its exception and its log) and push the result as XCom."""

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_healer.core.remediate.manual import RemediationRefused, find_task_instance, incident_for

        healer = self._healer()
        api = AirflowApiHook(healer.config.airflow_api_conn_id)
        request = self._request(context, "auto", True)
        try:
            ti = find_task_instance(api, request)
        except RemediationRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        classification = healer.classify(incident_for(healer, api, request, ti))
        self.log.info("%s.%s: %s (%.2f)", request.dag_id, request.task_id, classification.error_type,
                      classification.confidence)
        return classification.as_dict()


class RetryTaskOperator(_TaskInstanceOperator):
    """Clear a failed task instance in its own run and wait for its next try.

    :param dry_run: only say what would be done.
    """

    def __init__(self, *, dry_run: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.dry_run = dry_run

    def execute(self, context: Any) -> dict[str, Any]:
        return self._run(context, "retry", self.dry_run)


class RescaleOperator(RetryTaskOperator):
    """Take one step up the task's ``healer.tier`` ladder, then clear it and wait for its next try."""

    def execute(self, context: Any) -> dict[str, Any]:
        return self._run(context, "rescale", self.dry_run)


class RefreshCredentialsOperator(RetryTaskOperator):
    """Refresh the task's connections from ``[healer] credential_sources``, then clear it and wait."""

    def execute(self, context: Any) -> dict[str, Any]:
        return self._run(context, "refresh_credentials", self.dry_run)


class RemediateOperator(RetryTaskOperator):
    """What ``healer_remediate`` runs: the strategy a person chose, or the healer's own (``auto``).

    :param strategy: ``auto``, ``retry``, ``rescale`` or ``refresh_credentials`` (templated).
    :param reason: why, recorded with the action (templated).
    :param proposal_id: an approved proposal to carry out instead (templated): its task is the target.
    """

    template_fields: Sequence[str] = (*_TaskInstanceOperator.template_fields, "strategy", "reason", "dry_run",
                                      "proposal_id")

    def __init__(self, *, strategy: str = "auto", reason: str = "", proposal_id: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.strategy = strategy
        self.reason = reason
        self.proposal_id = proposal_id

    def execute(self, context: Any) -> dict[str, Any]:
        if str(self.proposal_id or "").strip():
            return self._apply(context, str(self.proposal_id), 1800)
        dry = self.dry_run if isinstance(self.dry_run, bool) else str(self.dry_run).lower() in ("true", "1", "yes")
        return self._run(context, str(self.strategy), dry, str(self.reason))


class ApplyProposalOperator(_TaskInstanceOperator):
    """Carry out an approved proposal: make its change where the healer can make it itself (an additive
    BigQuery schema update, through the google provider's hook), then retry its task in its own run and
    wait for the try without a worker slot. A proposal that is not approved fails the task, saying so.

    The healer task of a self-healing run does this itself once a proposal is approved; this operator (and
    ``healer_remediate`` with ``proposal_id``) is for proposals no healer task waits for: those the watchdog
    opens for the DAGs it heals. A try acted on already (by a healer that saw the approval) is not acted on
    twice.

    :param proposal_id: the proposal (templated); ``airflow-healer proposals list`` shows them.
    :param wait_seconds: how long to wait for the task's next try.
    """

    template_fields: Sequence[str] = ("proposal_id", "airflow_api_conn_id")

    def __init__(self, *, proposal_id: str, wait_seconds: float = 1800, airflow_api_conn_id: str | None = None,
                 **kwargs: Any):
        super().__init__(target_dag_id="", target_run_id="", target_task_id="",
                         airflow_api_conn_id=airflow_api_conn_id, **kwargs)
        self.proposal_id = proposal_id
        self.wait_seconds = wait_seconds

    def execute(self, context: Any) -> dict[str, Any]:
        return self._apply(context, str(self.proposal_id), self.wait_seconds)
