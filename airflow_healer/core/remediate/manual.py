"""Remediation asked for by a person: one failed task instance of any run, a strategy or ``auto``, dry run first.

This is what the ``healer_remediate`` DAG and the operator suite run, over the same store, classifier,
engine and strategy code as the healer task. A run, task or state that is not what the request says ends
it with a message naming what is wrong; nothing is done twice (the incident is claimed first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_healer.core.capture import NO_CALLBACK_ERROR, make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.engine import Decision, Verdict
from airflow_healer.core.types import Action, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import AirflowApiError, HealerError, RunNotFound

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "retry", "rescale", "refresh_credentials")
TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}


class RemediationRefused(HealerError):
    """The request names a run, task or state that cannot be remediated; the message says which."""


@dataclass
class Request:
    """What a person asks for.

    :param strategy: ``auto`` (the healer decides) or one of ``retry``, ``rescale``, ``refresh_credentials``.
    :param dry_run: say what would be done, and do nothing.
    :param user: who asked (recorded with the action).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    strategy: str = "auto"
    dry_run: bool = True
    reason: str = ""
    user: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise RemediationRefused(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}.")
        for name in ("dag_id", "run_id", "task_id"):
            if not str(getattr(self, name) or "").strip():
                raise RemediationRefused(f"{name} is required: name the failed task instance to remediate.")


@dataclass
class Result:
    incident_id: str
    error_type: str
    confidence: float
    verdict: str
    strategy: str | None
    plan: str
    outcome: str = "skipped"
    detail: str = ""
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def find_task_instance(api: Any, request: Request) -> dict[str, Any]:
    """The task instance the request names; :class:`RemediationRefused` naming what does not exist."""
    try:
        api.dag_run(request.dag_id, request.run_id)
    except RunNotFound as exc:
        raise RemediationRefused(f"DAG {request.dag_id!r} has no run {request.run_id!r} (or the DAG does not "
                                 f"exist): {exc}") from exc
    tis = api.task_instances(request.dag_id, request.run_id)
    ti = next((t for t in tis if t["task_id"] == request.task_id
               and int(t.get("map_index", -1)) == request.map_index), None)
    if ti is None:
        known = ", ".join(sorted({t["task_id"] for t in tis})[:20]) or "none"
        raise RemediationRefused(f"Run {request.run_id!r} of DAG {request.dag_id!r} has no task "
                                 f"{request.task_id!r} with map_index {request.map_index} (its tasks: {known}).")
    if ti["state"] not in ("failed", "upstream_failed"):
        raise RemediationRefused(f"{request.dag_id}.{request.task_id} in run {request.run_id} is "
                                 f"{ti['state']}: only a failed task instance can be remediated.")
    return ti


def incident_for(healer: Healer, api: Any, request: Request, ti: dict[str, Any]) -> Incident:
    """The task instance's incident, recorded from the API (with its log) when no callback did."""
    from airflow_healer.core.remediate.run import read_try_log

    store = healer.store
    try_number = int(ti.get("try_number") or 1)
    incident = store.find_incident(request.dag_id, request.run_id, request.task_id, request.map_index)
    if incident is None or not any(f.try_number == try_number for f in incident.failures):
        store.record_failure(make_failure(
            dag_id=request.dag_id, task_id=request.task_id, run_id=request.run_id, map_index=request.map_index,
            try_number=try_number, operator=ti.get("operator"), hostname=ti.get("hostname"), source="manual",
            message=NO_CALLBACK_ERROR))
        incident = store.find_incident(request.dag_id, request.run_id, request.task_id, request.map_index)
    assert incident is not None
    return read_try_log(healer, api, incident, try_number)


def _decision(healer: Healer, incident: Incident, classification: Any, strategy: str) -> Decision:
    # A person may choose the strategy; its guardrails (ladder, ceiling, sources, attempts) still apply.
    return healer.decide(incident, classification, force=None if strategy == "auto" else strategy)


def remediate(healer: Healer, api: Any, request: Request, *, wait_seconds: float = 1800.0,
              poll_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> Result:
    """Classify the failure, decide (or take the person's strategy), and unless a dry run act and wait for
    the task's next try. Raises :class:`RemediationRefused` for a request that cannot be carried out."""
    from airflow_healer.core.remediate.run import _refresh_connections

    ti = find_task_instance(api, request)
    incident = incident_for(healer, api, request, ti)
    classification = healer.classify(incident)
    incident = healer.store.get_incident(incident.id) or incident
    decision = _decision(healer, incident, classification, request.strategy)
    who = f"by {request.user or 'someone'}" + (f": {request.reason}" if request.reason else "")
    result = Result(incident.id, classification.error_type.value, round(classification.confidence, 4),
                    decision.verdict.value, decision.strategy.name if decision.strategy else None,
                    decision.reason, evidence=classification.evidence[:8])
    store = healer.store
    if decision.verdict is not Verdict.ACT or request.dry_run:
        what = "dry run: would " if request.dry_run and decision.verdict is Verdict.ACT else ""
        store.add_action(incident.id, Action(decision.strategy.name if decision.strategy else "none",
                                             decision.attempt, Outcome.SKIPPED,
                                             f"healer_remediate {who}; {what}{decision.reason}"))
        result.detail = f"{what}{decision.reason}"
        return result
    owner = f"healer_remediate:{request.user or '?'}"
    if not store.claim(incident.id, owner):
        raise RemediationRefused(f"Another healer is acting on {request.dag_id}.{request.task_id} right now; "
                                 "try again when it has finished.")
    strategy = decision.strategy.name if decision.strategy else "retry"
    try:
        cleared_try = int(ti.get("try_number") or 1)
        action_id = store.add_action(incident.id, Action(strategy, decision.attempt, Outcome.PENDING,
                                                         f"healer_remediate {who}; {decision.detail or decision.reason}"))
        store.set_status(incident.id, IncidentStatus.HEALING, f"healer_remediate {who}")
        if strategy == "refresh_credentials":
            problem = _refresh_connections(healer, api, incident, None)
            if problem:
                store.finish_action(action_id, Outcome.FAILED, problem)
                store.set_status(incident.id, IncidentStatus.NOT_RECOVERED, problem)
                result.outcome, result.detail = "failed", problem
                return result
        target: Any = request.task_id if request.map_index < 0 else [request.task_id, request.map_index]
        try:
            # The run has usually ended (failed): it goes back to queued so that the scheduler runs the task.
            api.clear(request.dag_id, request.run_id, [target], note=f"airflow_healer: {strategy} {who}",
                      reset_dag_runs=True)
        except AirflowApiError as exc:
            store.finish_action(action_id, Outcome.FAILED, f"clear failed: {exc}")
            store.set_status(incident.id, IncidentStatus.NOT_RECOVERED, f"could not clear the task: {exc}")
            result.outcome, result.detail = "failed", f"could not clear the task: {exc}"
            return result
        outcome, detail = _wait(api, request, cleared_try, wait_seconds, poll_seconds, sleep, clock)
        store.finish_action(action_id, outcome, detail)
        if outcome is not Outcome.PENDING:
            status = IncidentStatus.RECOVERED if outcome is Outcome.SUCCESS else IncidentStatus.NOT_RECOVERED
            store.set_status(incident.id, status, "" if outcome is Outcome.SUCCESS else detail)
            fresh = store.get_incident(incident.id)
            if fresh is not None:
                try:
                    healer.learn(fresh, strategy, outcome is Outcome.SUCCESS)
                except Exception as exc:  # noqa: BLE001 - learning never fails a remediation
                    log.warning("Could not learn from incident %s: %s", incident.id, exc)
        result.outcome, result.detail = str(outcome), detail
        return result
    finally:
        store.release(incident.id, owner)


def _wait(api: Any, request: Request, cleared_try: int, wait_seconds: float, poll_seconds: float,
          sleep: Callable[[float], None], clock: Callable[[], float]) -> tuple[Outcome, str]:
    deadline = clock() + wait_seconds
    while True:
        tis = api.task_instances(request.dag_id, request.run_id)
        ti = next((t for t in tis if t["task_id"] == request.task_id
                   and int(t.get("map_index", -1)) == request.map_index), None)
        if ti is None:
            return Outcome.FAILED, "the task instance disappeared from the run"
        if int(ti.get("try_number") or 0) > cleared_try and ti["state"] in TERMINAL:
            ok = ti["state"] in ("success", "skipped")
            return (Outcome.SUCCESS if ok else Outcome.FAILED), f"try {ti['try_number']} {ti['state']}"
        if clock() > deadline:
            return Outcome.PENDING, f"try {ti.get('try_number')} still {ti['state']} after {wait_seconds:.0f}s"
        sleep(poll_seconds)
