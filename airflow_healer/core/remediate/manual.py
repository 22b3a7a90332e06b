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
from airflow_healer.core.remediate.run import TERMINAL
from airflow_healer.core.types import Action, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import AirflowApiError, HealerError, RunNotFound

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "retry", "rescale", "refresh_credentials")


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
    acted: dict[str, Any] = field(default_factory=dict)  # action_id, cleared_try, strategy, owner

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(**data)

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
              clock: Callable[[], float] = time.monotonic, wait: bool = True) -> Result:
    """Classify the failure, decide (or take the person's strategy), and unless a dry run act and wait for
    the task's next try. Raises :class:`RemediationRefused` for a request that cannot be carried out.

    :param wait: False returns as soon as the task is cleared, with ``outcome`` ``pending`` and
        ``acted`` set: the caller waits (a deferred operator) and then calls :func:`conclude`.
    """
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
    strategy = decision.strategy.name if decision.strategy else "retry"

    def refresh() -> str:
        return _refresh_connections(healer, api, incident, None) if strategy == "refresh_credentials" else ""

    return act(healer, api, request, result, ti, strategy=strategy, attempt=decision.attempt,
               detail=f"healer_remediate {who}; {decision.detail or decision.reason}", prepare=refresh,
               wait=wait, wait_seconds=wait_seconds, poll_seconds=poll_seconds, sleep=sleep, clock=clock)


def act(healer: Healer, api: Any, request: Request, result: Result, ti: dict[str, Any], *, strategy: str,
        attempt: int, detail: str, prepare: Callable[[], str] = lambda: "", wait: bool = True,
        wait_seconds: float = 1800.0, poll_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic) -> Result:
    """Claim the incident and the failed try (once, ever), record the action, ``prepare`` (refresh a
    connection, apply a change: what went wrong, or ''), clear the task in its run, and wait for its next
    try unless ``wait`` is False (then ``outcome`` is ``pending`` and :func:`conclude` records it later)."""
    store = healer.store
    owner = f"healer_remediate:{request.user or '?'}"
    if not store.claim(result.incident_id, owner):
        raise RemediationRefused(f"Another healer is acting on {request.dag_id}.{request.task_id} right now; "
                                 "try again when it has finished.")
    cleared_try = int(ti.get("try_number") or 1)
    acted = False
    try:
        if not store.act_once(request.dag_id, request.run_id, request.task_id, request.map_index, cleared_try,
                              actor=owner, strategy=strategy):
            actor = store.acted_by(request.dag_id, request.run_id, request.task_id, request.map_index, cleared_try)
            raise RemediationRefused(f"Try {cleared_try} of {request.dag_id}.{request.task_id} was acted on already "
                                     f"by {actor}: nothing is done twice; wait for its next try.")
        action_id = store.add_action(result.incident_id, Action(strategy, attempt, Outcome.PENDING, detail))
        store.set_status(result.incident_id, IncidentStatus.HEALING, detail)
        problem = prepare()
        if not problem:
            cleared = clear_for_retry(api, request, strategy, detail)
            problem = f"could not clear the task: {cleared}" if cleared else ""
        if problem:
            store.finish_action(action_id, Outcome.FAILED, problem)
            store.set_status(result.incident_id, IncidentStatus.NOT_RECOVERED, problem)
            result.outcome, result.detail = "failed", problem
            return result
        result.acted = {"action_id": action_id, "cleared_try": cleared_try, "strategy": strategy, "owner": owner}
        acted = True
        if not wait:
            result.outcome = "pending"
            return result
        deadline = clock() + wait_seconds
        while True:
            outcome, what = check_outcome(api, request, cleared_try)
            if outcome is not None:
                break
            if clock() > deadline:
                outcome, what = Outcome.PENDING, f"{what} after {wait_seconds:.0f}s"
                break
            sleep(poll_seconds)
        return conclude(healer, result, outcome, what)
    finally:
        if not acted:
            store.release(result.incident_id, owner)


def apply_proposal(healer: Healer, api: Any, proposal_id: str, *, user: str = "", wait: bool = True,
                   wait_seconds: float = 1800.0, poll_seconds: float = 5.0,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[Request, Result]:
    """Carry out an approved proposal: make its change when the healer can (an additive BigQuery schema
    update), then retry its task in its run. A proposal that is not approved, or whose task no longer
    failed, is refused with a message that says so."""
    from airflow_healer.core.remediate.run import apply_approved_change

    store = healer.store
    proposal = store.get_proposal(proposal_id)
    if proposal is None:
        raise RemediationRefused(f"No proposal {proposal_id!r}; `airflow-healer proposals list` shows them.")
    if proposal["status"] != "approved":
        hint = {"pending": f": approve it first (`airflow-healer proposals approve {proposal_id}`)"}.get(
            proposal["status"], "")
        raise RemediationRefused(f"Proposal {proposal_id} is {proposal['status']}, not approved{hint}; nothing done.")
    if str(proposal["dag_id"]).startswith("external:"):
        kind = str(proposal["dag_id"]).split(":", 1)[1]
        raise RemediationRefused(
            f"Proposal {proposal_id} is about a {kind} job outside Airflow ({proposal['run_id']}), which no DAG run "
            f"holds: make the change it describes ({proposal['change']}), then rerun the job where it runs; the "
            "next poll of healer_external_jobs records how it goes.")
    request = Request(dag_id=proposal["dag_id"], run_id=proposal["run_id"], task_id=proposal["task_id"],
                      map_index=int(proposal["map_index"]), strategy="retry", dry_run=False, user=user,
                      reason=f"proposal {proposal_id} approved by {proposal['decided_by']}")
    ti = find_task_instance(api, request)
    incident = store.get_incident(proposal["incident_id"])
    if incident is None:
        raise RemediationRefused(f"The incident {proposal['incident_id']} of proposal {proposal_id} is gone.")
    result = Result(incident.id, incident.error_type.value if incident.error_type else "unknown",
                    round(incident.confidence or 0.0, 4), "act", proposal["strategy"], proposal["change"])
    applied: list[str] = []

    def apply() -> str:
        problem, done = apply_approved_change(healer, proposal_id)
        applied.append(done)
        return problem

    attempt = 1 + sum(1 for a in incident.actions if a.outcome is not Outcome.SKIPPED)
    result = act(healer, api, request, result, ti, strategy=proposal["strategy"], attempt=attempt,
                 detail=f"apply proposal {proposal_id} (approved by {proposal['decided_by']}) by {user or 'someone'}",
                 prepare=apply, wait=wait, wait_seconds=wait_seconds, poll_seconds=poll_seconds, sleep=sleep)
    if applied and applied[0]:
        result.plan = f"{proposal['change']}; {applied[0]}"
    return request, result


def clear_for_retry(api: Any, request: Request, strategy: str, who: str) -> str:
    """Clear the failed task instance in its run (what went wrong, '' when it worked)."""
    target: Any = request.task_id if request.map_index < 0 else [request.task_id, request.map_index]
    try:
        # The run has usually ended (failed): it goes back to queued so that the scheduler runs the task.
        api.clear(request.dag_id, request.run_id, [target], note=f"airflow_healer: {strategy} {who}",
                  reset_dag_runs=True)
    except AirflowApiError as exc:
        return str(exc)
    return ""


def check_outcome(api: Any, request: Request, cleared_try: int) -> tuple[Outcome | None, str]:
    """How the try after ``cleared_try`` ended: (None, what it is doing) while it has not."""
    tis = api.task_instances(request.dag_id, request.run_id)
    ti = next((t for t in tis if t["task_id"] == request.task_id
               and int(t.get("map_index", -1)) == request.map_index), None)
    if ti is None:
        return Outcome.FAILED, "the task instance disappeared from the run"
    if int(ti.get("try_number") or 0) > cleared_try and ti["state"] in TERMINAL:
        ok = ti["state"] in ("success", "skipped")
        return (Outcome.SUCCESS if ok else Outcome.FAILED), f"try {ti['try_number']} {ti['state']}"
    return None, f"try {ti.get('try_number')} still {ti['state']}"


def conclude(healer: Healer, result: Result, outcome: Outcome, detail: str) -> Result:
    """Record how the remediation ``result`` (with ``acted`` set) came out, and let the incident go."""
    from airflow_healer.core.remediate.run import settle_action

    store, acted = healer.store, result.acted
    assert acted, "conclude() needs a result whose task was cleared"
    try:
        if outcome is Outcome.PENDING:
            store.finish_action(acted["action_id"], outcome, detail)
        else:
            status = IncidentStatus.RECOVERED if outcome is Outcome.SUCCESS else IncidentStatus.NOT_RECOVERED
            settle_action(healer, result.incident_id, acted["action_id"], acted["strategy"], outcome, detail,
                          status, acted["owner"])
    finally:
        store.release(result.incident_id, acted["owner"])
    result.outcome, result.detail = str(outcome), detail
    return result


