"""Heal a job that ran outside Airflow: the same classification, registry and guardrails as a task.

A failed external job is an incident under its own identity: ``dag_id`` is ``external:<job_type>``
(a ``:`` cannot be in a real DAG id), ``task_id`` the job's name and ``run_id`` its id. What the
registry's strategies mean for it:

- ``retry`` (network, timeout, rate limit): a BigQuery job is rerun from its configuration, a
  Workflows execution is started again with its argument, a Dataflow job is relaunched from the
  template ``[healer] dataflow_relaunch`` names for it (at its current rung);
- ``rescale`` (resource exhaustion, memory, disk): a Dataflow job is relaunched one rung up the
  ladder of environments its ``dataflow_relaunch`` rule declares; a running streaming job with
  Streaming Engine has its worker range updated in place. Without a ladder: a proposal that says
  where to declare one;
- risky types (IAM, schema, data, dependencies, settings): a proposal a person approves, as for a task.

The relaunched or rerun job belongs to the first one's incident (its next "try"): when it is seen
succeeding the action is settled as a success and learnt; when it fails, it is decided again, up to
``max_attempts``. One action per failed job whoever sees it (the poller, a sensor, another machine):
the store's ``act_once`` key is taken before anything starts, and the new job id is deterministic.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.engine import Decision, Verdict, rescale_steps
from airflow_healer.core.remediate.run import settle_action
from airflow_healer.core.types import Action, Incident, IncidentStatus, Outcome
from airflow_healer.gcp.jobs import FAILED, RUNNING, SUCCEEDED, TERMINAL, ExternalJob

log = logging.getLogger(__name__)

EXTERNAL_PREFIX = "external:"
FOLLOW_UP = "external-jobs/follow-up/"
#: The longest the healer waits before acting (the rest of a backoff): a poll or a sensor holds a slot meanwhile.
MAX_BACKOFF_SECONDS = 120.0
#: After raising a running streaming job's worker range, how long its further errors wait before another climb.
STREAMING_COOLDOWN_SECONDS = 600.0
NO_ERROR_TEXT = "{job_type} job {job_id} ended {state} and the service gave no error message."


def external_key(job: ExternalJob) -> tuple[str, str, str]:
    """(dag_id, run_id, task_id) of the incident of a job no earlier action started."""
    return f"{EXTERNAL_PREFIX}{job.job_type}", job.job_id, job.job_name or job.job_id


def is_external(dag_id: str) -> bool:
    return dag_id.startswith(EXTERNAL_PREFIX)


@dataclass
class JobOutcome:
    """What the healer made of one job it saw."""

    job_id: str
    status: str
    incident_id: str | None = None
    error_type: str | None = None
    verdict: str | None = None  # act, propose, escalate, give_up, observe; None: nothing to decide
    started: str | None = None  # the job a rerun/relaunch started
    settled: str | None = None  # "success"/"failed" when the job was a follow-up of an action
    reason: str = ""


class ExternalHealer:
    """Keeps, classifies and heals external jobs.

    :param healer: the :class:`~airflow_healer.core.healer.Healer` (config, store, classifier).
    :param actions: the module (or an object) with ``relaunch_dataflow``, ``update_dataflow_workers``,
        ``rerun_bigquery`` and ``rerun_workflow``; :mod:`airflow_healer.gcp.actions` by default.
    """

    def __init__(self, healer: Healer, *, actions: Any = None, owner: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] | None = None):
        self.healer = healer
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.config = healer.config
        self._actions = actions
        self.owner = owner or f"external@{socket.gethostname()}:{os.getpid()}"
        self._heal_patterns = [p.strip() for p in self.config.external_heal.split(",") if p.strip()]

    @property
    def actions(self) -> Any:
        if self._actions is None:
            from airflow_healer.gcp import actions

            self._actions = actions
        return self._actions

    def wants(self, job: ExternalJob) -> bool:
        """Whether ``[healer] external_heal`` lets the healer act on this job (by its name)."""
        return any(fnmatch.fnmatchcase(job.job_name, p) for p in self._heal_patterns)

    def rule(self, job: ExternalJob) -> dict[str, Any] | None:
        """The ``dataflow_relaunch`` rule of a Dataflow job: the first glob matching its name (a relaunched
        job's name carries a ``-healer-N`` suffix: the rule of the name it came from)."""
        if job.job_type != "dataflow":
            return None
        name = job.labels.get("healer-origin") or job.job_name
        for pattern, rule in self.config.dataflow_relaunch_rules.items():
            if fnmatch.fnmatchcase(name, pattern):
                return rule
        return None

    # -- one job ---------------------------------------------------------------------------------

    def observe(self, job: ExternalJob, *, heal: bool | None = None) -> JobOutcome:
        """Keep ``job``'s row; settle the action that started it; record, classify and (when allowed)
        heal it when it failed. ``heal`` overrides ``external_heal`` (a sensor asked for it)."""
        store = self.healer.store
        follow = self._follow_up(job.job_id)
        outcome = JobOutcome(job.job_id, job.status)
        # A failed job is an incident; so is a running one whose errors a log sink reported (Pub/Sub).
        troubled = job.failed or (job.status == RUNNING and bool(job.error_message))
        if follow is None and not troubled:
            store.upsert_pipeline_job(job.row())
            return outcome
        if follow is not None and job.status not in TERMINAL:
            store.upsert_pipeline_job(job.row(incident_id=follow["incident_id"]))
            outcome.incident_id = follow["incident_id"]
            return outcome
        if follow is not None:
            done = job.status == SUCCEEDED
            settled = settle_action(
                self.healer, follow["incident_id"], int(follow["action_id"]), follow["strategy"],
                Outcome.SUCCESS if done else Outcome.FAILED, f"{job.job_type} job {job.job_id} ended {job.state}",
                IncidentStatus.RECOVERED if done else None, self.owner)
            outcome.settled = ("success" if done else "failed") if settled else None
            outcome.incident_id = follow["incident_id"]
            if not job.failed:
                store.upsert_pipeline_job(job.row(incident_id=follow["incident_id"]))
                if job.status != SUCCEEDED and settled:  # cancelled by someone: a person decides
                    store.set_status(follow["incident_id"], IncidentStatus.NOT_RECOVERED,
                                     f"{job.job_type} job {job.job_id} was {job.state}")
                return outcome
        if follow is None:
            seen = store.get_pipeline_job(job.job_id)
            if seen and seen["status"] == job.status and job.status in TERMINAL and seen.get("incident_id"):
                # Seen failed already (the poll windows overlap; a sensor and the poller both watch it).
                outcome.incident_id, outcome.error_type = seen["incident_id"], seen.get("error_type")
                outcome.reason = "seen already"
                return outcome
        incident = self._record(job, follow)
        # The next try of a chain is classified afresh: the new job's error may say something else.
        classification = self.healer.classify(incident) if (incident.error_type is None or follow) else None
        incident = store.get_incident(incident.id) or incident
        store.upsert_pipeline_job(job.row(incident_id=incident.id,
                                          error_type=incident.error_type.value if incident.error_type else None))
        outcome.incident_id = incident.id
        outcome.error_type = incident.error_type.value if incident.error_type else None
        allowed = self.wants(job) if heal is None else heal
        if not allowed:
            reason = (f"recorded from {job.job_type}; classified {outcome.error_type}; [healer] external_heal does "
                      f"not name {job.job_name}, so the healer records and classifies only")
            store.set_status(incident.id, IncidentStatus.OPEN, reason)
            outcome.reason = reason
            return outcome
        return self._heal(job, incident, classification, outcome)

    def _follow_up(self, job_id: str) -> dict[str, Any] | None:
        raw = self.healer.store.get_blob(FOLLOW_UP + job_id)
        return json.loads(raw) if raw else None

    def _record(self, job: ExternalJob, follow: dict[str, Any] | None) -> Incident:
        """The failure as an incident: a new one, or the next try of the incident whose action started it."""
        store = self.healer.store
        if follow is not None:
            origin = store.get_incident(follow["incident_id"])
        if follow is None or origin is None:
            dag_id, run_id, task_id = external_key(job)
            try_number = 1
        else:
            dag_id, run_id, task_id = origin.dag_id, origin.run_id, origin.task_id
            try_number = int(follow["attempt"]) + 1
        message = job.error_message or NO_ERROR_TEXT.format(job_type=job.job_type, job_id=job.job_id, state=job.state)
        failure = make_failure(dag_id=dag_id, task_id=task_id, run_id=run_id, try_number=try_number,
                               operator=_OPERATORS.get(job.job_type, job.job_type), message=message,
                               started_at=job.start_time, source="gcp")
        incident = store.get_incident(store.record_failure(failure))
        assert incident is not None
        return incident

    # -- deciding and acting ---------------------------------------------------------------------

    def _heal(self, job: ExternalJob, incident: Incident, classification: Any, outcome: JobOutcome) -> JobOutcome:
        store = self.healer.store
        if classification is None:
            classification = self.healer.classify(incident)
            incident = store.get_incident(incident.id) or incident
        rule = self.rule(job)
        steps = rescale_steps(incident.actions)  # the job ran on rung ``steps`` of its ladder
        if rule and rule.get("ladder") and job.job_type == "dataflow":
            store.record_tier(incident.dag_id, incident.run_id, incident.task_id, -1, incident.last_try_number,
                              "environment", rule["ladder"], min(steps, len(rule["ladder"]) - 1))
        decision = self.healer.decide(incident, classification)
        outcome.verdict = decision.verdict.value
        if decision.verdict is not Verdict.ACT or decision.strategy is None:
            outcome.reason = self._not_acting(job, incident, decision, classification)
            return outcome
        strategy = decision.strategy.name
        try_number = incident.last_try_number
        in_place = strategy == "rescale" and job.status == RUNNING and job.details.get("job_kind") == "streaming"
        if job.status == RUNNING and not in_place:
            outcome.verdict, outcome.reason = None, (f"{decision.reason}; {job.job_type} job {job.job_id} is still "
                                                     "running, so the healer acts once it has ended failed")
            store.set_status(incident.id, IncidentStatus.OPEN, outcome.reason)
            return outcome
        if in_place:
            # A running job reports errors again and again: one climb, then time for the new range to work.
            # Two healers updating at once set the same range (idempotent), so no per-try key is taken: the
            # job's later failure, if it comes, is still acted on.
            last = max((a.started_at or "" for a in incident.actions if a.strategy == "rescale"), default="")
            if last and (self._now() - _parse_time(last)).total_seconds() < STREAMING_COOLDOWN_SECONDS:
                outcome.verdict, outcome.reason = None, (
                    f"its worker range was raised at {last}; the healer waits "
                    f"{STREAMING_COOLDOWN_SECONDS / 60:.0f} minutes for it to take effect before climbing again")
                return outcome
        elif not store.act_once(incident.dag_id, incident.run_id, incident.task_id, -1, try_number,
                                actor=self.owner, strategy=strategy):
            outcome.reason = (f"try {try_number} of {job.job_id} was acted on already by "
                              f"{store.acted_by(incident.dag_id, incident.run_id, incident.task_id, -1, try_number)}")
            outcome.verdict = None
            return outcome
        rung = _rung(rule, steps + 1 if strategy == "rescale" else steps)
        plan, problem = self._plan(job, strategy, rule, rung)
        action_id = store.add_action(incident.id, Action(strategy, decision.attempt, Outcome.PENDING,
                                                         "; ".join(filter(None, [decision.detail, plan]))))
        started = None
        if not problem:
            self._back_off(job, decision.delay)
            try:
                started = self._act(job, strategy, rule, rung, decision.attempt)
            except Exception as exc:  # noqa: BLE001 - the API refused: a person looks, with what it said
                problem = f"{plan} failed: {type(exc).__name__}: {exc}"
        if problem:
            store.finish_action(action_id, Outcome.FAILED, problem)
            store.set_status(incident.id, IncidentStatus.NOT_RECOVERED, problem)
            outcome.verdict, outcome.reason = Verdict.GIVE_UP.value, problem
            return outcome
        if started == job.job_id:  # changed in place (a streaming job's workers): nothing new to watch
            settle_action(self.healer, incident.id, action_id, strategy, Outcome.SUCCESS,
                          f"{plan}: accepted; the job keeps running", IncidentStatus.RECOVERED, self.owner)
            outcome.reason = f"{decision.reason}: {plan}"
            return outcome
        follow = {"incident_id": incident.id, "action_id": action_id, "strategy": strategy,
                  "attempt": try_number, "origin": job.job_id}
        store.put_blob(FOLLOW_UP + started, json.dumps(follow).encode(), {"job_type": job.job_type})
        store.set_status(incident.id, IncidentStatus.HEALING, f"{decision.reason}: {plan}, watching {started}")
        outcome.started, outcome.reason = started, f"{decision.reason}: {plan}"
        log.info("Healing %s job %s (%s): %s -> %s", job.job_type, job.job_id, classification.error_type, plan,
                 started)
        return outcome

    def _back_off(self, job: ExternalJob, delay: float) -> None:
        """Wait what is left of the strategy's backoff (or the rate limit's named wait) since the job ended:
        a rerun the moment a quota refused the job would meet the same refusal."""
        if delay <= 0 or not job.end_time:
            return
        ended = _parse_time(job.end_time)
        left = min(delay - (self._now() - ended).total_seconds(), MAX_BACKOFF_SECONDS)
        if left > 0:
            log.info("Waiting %.1fs before acting on %s job %s", left, job.job_type, job.job_id)
            self._sleep(left)

    def _not_acting(self, job: ExternalJob, incident: Incident, decision: Decision, classification: Any) -> str:
        summary = None
        if decision.strategy is not None and decision.strategy.name == "rescale" and job.job_type == "bigquery":
            summary = ("Give the query more capacity (a reservation with more slots) or make it lighter (filter "
                       "earlier, avoid ORDER BY without LIMIT, split it), then rerun it: BigQuery has no rung to climb.")
        elif decision.strategy is not None and decision.strategy.name == "rescale" and job.job_type == "dataflow":
            summary = (f"Declare how to relaunch {job.job_name} with more resources: a [healer] dataflow_relaunch "
                       'rule with its template and a ladder of environments ({"machine_type": "n1-highmem-4"}, ...).')
        return self.healer.hold(incident, decision, classification, summary=summary)

    @staticmethod
    def _plan(job: ExternalJob, strategy: str, rule: dict[str, Any] | None,
              rung: dict[str, Any] | None) -> tuple[str, str]:
        """What the action will do, and why it cannot ("" when it can)."""
        kind = job.details.get("job_kind")
        if strategy not in ("retry", "rescale"):
            return strategy, f"{strategy} has no meaning for a {job.job_type} job: a person should look"
        if job.job_type == "bigquery":
            if strategy == "rescale":
                return "rescale", "BigQuery has no rung to climb: a person should give it capacity"
            return f"rerun BigQuery job {job.job_id}", ""
        if job.job_type == "workflows":
            if strategy == "rescale":
                return "rescale", "a Workflows execution has no resources to raise: a person should look"
            return f"start workflow {job.details.get('workflow', job.job_name)} again", ""
        if strategy == "rescale" and job.status == RUNNING and kind == "streaming":
            if not job.details.get("streaming_engine"):
                return "update workers", ("the streaming job does not use Streaming Engine, so its worker range "
                                          "cannot change in place: a person should relaunch it")
            if rung is None or not rung.get("max_workers"):
                return "update workers", "no ladder rung with max_workers for this streaming job"
            return f"update workers to {rung.get('min_workers', '-')}..{rung['max_workers']}", ""
        if rule is None:
            return "relaunch", (f"no [healer] dataflow_relaunch rule names {job.job_name}: the healer does not "
                                "know the job's template, so a person relaunches it")
        where = rule.get("template") or rule.get("flex_template")
        return f"relaunch from {where} with {json.dumps(rung, sort_keys=True) if rung else 'its environment'}", ""

    def _act(self, job: ExternalJob, strategy: str, rule: dict[str, Any] | None, rung: dict[str, Any] | None,
             attempt: int) -> str:
        """Start the action; returns the id of the job to watch (the same one for an in-place update)."""
        if job.job_type == "bigquery":
            return self.actions.rerun_bigquery(job, attempt=attempt)
        if job.job_type == "workflows":
            return self.actions.rerun_workflow(job)
        if strategy == "rescale" and job.status == RUNNING and job.details.get("job_kind") == "streaming":
            self.actions.update_dataflow_workers(job, min_workers=(rung or {}).get("min_workers"),
                                                 max_workers=(rung or {}).get("max_workers"))
            return job.job_id
        return self.actions.relaunch_dataflow(job, rule, rung or {}, attempt=attempt)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _rung(rule: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    """Rung ``index`` of the rule's ladder (its top when beyond), or None without a ladder."""
    ladder = (rule or {}).get("ladder") or []
    return dict(ladder[min(index, len(ladder) - 1)]) if ladder else None


_OPERATORS = {"dataflow": "DataflowJob", "workflows": "WorkflowsExecution", "bigquery": "BigQueryJob"}

__all__ = ["EXTERNAL_PREFIX", "ExternalHealer", "JobOutcome", "external_key", "is_external", "FAILED"]
