"""Heal one DAG run from inside it: watch its task instances, decide, clear, record outcomes.

This is the loop behind the ``healer`` task that :func:`airflow_healer.self_healing` adds to a DAG.
It talks to Airflow through the small :class:`AirflowApi` port (the REST API hook implements it),
so it runs and is tested without Airflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from airflow_healer.core.capture import make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.engine import Verdict
from airflow_healer.core.types import Action, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import AirflowApiError

log = logging.getLogger(__name__)

TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
FAILED = {"failed"}
HEALTHY = {"success", "skipped"}

TaskKey = tuple[str, int]  # (task_id, map_index)
#: The options of a healer task's entry in Airflow's Required Actions.
APPROVE, REJECT = "Approve", "Reject"


class AirflowApi(Protocol):
    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run: dicts with task_id, map_index, state, try_number."""

    def clear(self, dag_id: str, run_id: str, task_ids: list[Any], *, note: str = "") -> list[dict[str, Any]]:
        """Clear (for real, not a dry run) the failed ones of ``task_ids`` in the same run."""

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> list[Any]:
        """The events of one try's log (a bounded tail)."""

    def update_connection(self, conn_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set the named fields of a connection kept in the metadata database."""


@dataclass
class _Pending:
    incident_id: str
    action_id: int
    cleared_try: int
    strategy: str = "retry"


@dataclass
class _Awaiting:
    proposal_id: str
    incident_id: str
    action_id: int
    try_number: int
    strategy: str
    attempt: int


@dataclass
class _Due:
    when: float
    incident_id: str
    attempt: int
    strategy: str
    detail: str
    proposal_id: str = ""  # an approved proposal: its change is applied before the clear


@dataclass
class RunReport:
    healed: list[str] = field(default_factory=list)
    unhealed: list[str] = field(default_factory=list)  # "task: reason"

    @property
    def ok(self) -> bool:
        return not self.unhealed


@dataclass
class Wait:
    """What the healer waits for between two steps; :class:`~airflow_healer.triggers.run.HealerRunTrigger`
    watches for it without a worker slot.

    The next step is due at ``until`` (wall-clock epoch seconds: a backoff, a callback's grace, a
    proposal's expiry), or as soon as the run changes in a way that matters: a try fails that is not
    in ``failed``; a task the healer cleared (``pending``: task_id, map_index, the try it cleared)
    finishes; every task finishes (unless ``all_terminal`` already); a proposal in ``proposals`` is
    decided.
    """

    until: float | None
    failed: list[list[Any]]  # [task_id, map_index, try_number]
    pending: list[list[Any]]  # [task_id, map_index, cleared_try]
    all_terminal: bool
    proposals: list[str]

    @property
    def only_people(self) -> bool:
        """Nothing but a person's decision can move the run on (every task finished, none cleared)."""
        return self.all_terminal and not self.pending and bool(self.proposals)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunHealer:
    """Heal the failed task instances of one DAG run until every other task has finished.

    :param healer: records, classifies and decides.
    :param api: the Airflow REST API (see :class:`AirflowApi`).
    :param dag_id: the run's DAG.
    :param run_id: the run to heal; the healer never touches another run.
    :param own_task_ids: the healer's own tasks, which it neither waits for nor clears.
    :param downstream: task_id -> ids of its downstream tasks, cleared along with it.
    :param capture_grace_seconds: how long to wait for a failure callback's record before
        recording the failure from what the API says.
    :param ask_people: called with the proposals of this run still waiting whenever one opens (the
        healer task shows them in Airflow's Required Actions).
    :param clock: wall-clock seconds: the state outlives the process (see :meth:`dump`).
    """

    def __init__(
        self,
        healer: Healer,
        api: AirflowApi,
        *,
        dag_id: str,
        run_id: str,
        own_task_ids: Iterable[str],
        downstream: Callable[[str], Iterable[str]] = lambda task_id: (),
        capture_grace_seconds: float = 15.0,
        read_secret: Callable[[str], dict[str, Any]] | None = None,
        ask_people: Callable[[list[dict[str, Any]]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.healer = healer
        self.api = api
        self.dag_id = dag_id
        self.run_id = run_id
        self.own = set(own_task_ids)
        self.downstream = downstream
        self.grace = capture_grace_seconds
        self.read_secret = read_secret
        self.ask_people = ask_people
        self.sleep = sleep
        self.clock = clock
        # Stable across processes: a deferred healer task resumes elsewhere and still holds its leases.
        self.owner = f"healer:{dag_id}:{run_id}"
        self._pending: dict[TaskKey, _Pending] = {}
        self._due: dict[TaskKey, _Due] = {}
        self._awaiting: dict[TaskKey, _Awaiting] = {}
        self._settled: dict[TaskKey, tuple[int, str]] = {}  # key -> (try_number, reason)
        self._first_seen: dict[tuple[TaskKey, int], float] = {}
        self._report = RunReport()
        self._started = False

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> RunReport:
        """Heal the run in this process, polling until every other task has finished."""
        while True:
            outcome = self.step()
            if isinstance(outcome, RunReport):
                return outcome
            self.sleep(self.healer.config.poll_interval_seconds)

    def step(self) -> RunReport | Wait:
        """Look at the run once and do what is due: the report when the run is done, else what to wait for."""
        if not self._started:
            self._started = True
            try:
                replayed = self.healer.replay_spool()
                if replayed:
                    log.info("Wrote %d spooled failure(s) to the store first", replayed)
            except Exception as exc:  # noqa: BLE001 - the spool waits for the next healer
                log.warning("Could not replay the failure spool: %s", exc)
        tis = [ti for ti in self.api.task_instances(self.dag_id, self.run_id) if ti["task_id"] not in self.own]
        by_key = {(ti["task_id"], ti.get("map_index", -1)): ti for ti in tis}
        self._check_pending(by_key, self._report)
        for key, ti in by_key.items():
            if ti["state"] in FAILED and key not in self._pending and key not in self._due \
                    and key not in self._awaiting:
                self._handle_failure(key, ti)
        self._check_awaiting()
        self._clear_due()
        unfinished = [k for k, ti in by_key.items() if ti["state"] not in TERMINAL]
        if not unfinished and not self._pending and not self._due and not self._awaiting:
            return self._final_report(by_key)
        return self._wait(by_key, all_terminal=not unfinished)

    def _final_report(self, by_key: dict[TaskKey, dict[str, Any]]) -> RunReport:
        report = self._report
        for key, ti in sorted(by_key.items()):
            if ti["state"] in HEALTHY:
                continue
            reason = self._settled.get(key, (0, f"ended {ti['state']}"))[1]
            report.unhealed.append(f"{_name(key)}: {reason}")
        return report

    def _wait(self, by_key: dict[TaskKey, dict[str, Any]], *, all_terminal: bool) -> Wait:
        deadlines = [due.when for due in self._due.values()]
        # A failed try whose callback record has not arrived yet: the grace period ends it.
        deadlines += [seen + self.grace for (key, try_number), seen in self._first_seen.items()
                      if key in by_key and by_key[key]["state"] in FAILED
                      and int(by_key[key].get("try_number") or 1) == try_number
                      and key not in self._pending and key not in self._due and key not in self._awaiting
                      and self._settled.get(key, (0, ""))[0] < try_number]
        for waiting in self._awaiting.values():
            proposal = self.healer.store.get_proposal(waiting.proposal_id)
            if proposal:
                deadlines.append(_epoch(proposal["expires_at"]))
        failed = [[k[0], k[1], int(ti.get("try_number") or 1)] for k, ti in sorted(by_key.items())
                  if ti["state"] in FAILED and k not in self._pending]
        pending = [[k[0], k[1], p.cleared_try] for k, p in sorted(self._pending.items())]
        return Wait(until=min(deadlines) if deadlines else None, failed=failed, pending=pending,
                    all_terminal=all_terminal and not self._pending,
                    proposals=[w.proposal_id for w in self._awaiting.values()])

    # -- the state between steps (a deferred healer task resumes in another process) ------

    def dump(self) -> dict[str, Any]:
        """The state between steps, JSON-able: a deferred healer task carries it to its next step."""
        return {
            "started": self._started,
            "pending": [[*k, asdict(v)] for k, v in self._pending.items()],
            "due": [[*k, asdict(v)] for k, v in self._due.items()],
            "awaiting": [[*k, asdict(v)] for k, v in self._awaiting.items()],
            "settled": [[*k, *v] for k, v in self._settled.items()],
            "first_seen": [[*k, t, seen] for (k, t), seen in self._first_seen.items()],
            "healed": list(self._report.healed),
        }

    def restore(self, state: dict[str, Any]) -> RunHealer:
        self._started = bool(state.get("started"))
        self._pending = {(t, int(m)): _Pending(**v) for t, m, v in state.get("pending", [])}
        self._due = {(t, int(m)): _Due(**v) for t, m, v in state.get("due", [])}
        self._awaiting = {(t, int(m)): _Awaiting(**v) for t, m, v in state.get("awaiting", [])}
        self._settled = {(t, int(m)): (int(n), r) for t, m, n, r in state.get("settled", [])}
        self._first_seen = {((t, int(m)), int(n)): float(seen) for t, m, n, seen in state.get("first_seen", [])}
        self._report = RunReport(healed=list(state.get("healed", [])))
        return self

    def record_decision(self, approve: bool, user: str, note: str = "") -> list[str]:
        """Decide every proposal this healer waits for (a person answered its Required Actions entry);
        returns the ids decided. A proposal decided already (from the CLI) is left as it is."""
        from airflow_healer.exceptions import StoreError

        decided = []
        for waiting in self._awaiting.values():
            try:
                self.healer.store.decide_proposal(waiting.proposal_id, approve, user, note)
            except StoreError as exc:
                log.info("Proposal %s: %s", waiting.proposal_id, exc)
                continue
            decided.append(waiting.proposal_id)
        return decided

    # -- steps --------------------------------------------------------------------------

    def _check_pending(self, by_key: dict[TaskKey, dict[str, Any]], report: RunReport) -> None:
        for key, pending in list(self._pending.items()):
            ti = by_key.get(key)
            if ti is None:
                self._finish(key, pending, Outcome.FAILED, "the task instance disappeared from the run",
                             IncidentStatus.NOT_RECOVERED)
            elif ti["state"] in HEALTHY:
                self._finish(key, pending, Outcome.SUCCESS, f"try {ti['try_number']} {ti['state']}",
                             IncidentStatus.RECOVERED)
                report.healed.append(_name(key))
            elif ti["state"] in FAILED and ti["try_number"] > pending.cleared_try:
                # Failed again: record the outcome, then treat it as a new failure of the same incident.
                self._finish(key, pending, Outcome.FAILED, f"try {ti['try_number']} failed again", None)
            elif ti["state"] in TERMINAL and ti["state"] not in FAILED:
                self._finish(key, pending, Outcome.FAILED, f"try {ti['try_number']} ended {ti['state']}",
                             IncidentStatus.NOT_RECOVERED)

    def _finish(self, key: TaskKey, pending: _Pending, outcome: Outcome, detail: str,
                status: IncidentStatus | None) -> None:
        del self._pending[key]
        if status is not None:
            self._settled[key] = (pending.cleared_try, detail)
        if not settle_action(self.healer, pending.incident_id, pending.action_id, pending.strategy, outcome, detail,
                             status, self.owner):
            log.info("%s: %s outcome %s, recorded already by the task's success callback", _name(key),
                     pending.strategy, outcome)
            return
        log.info("%s: %s outcome %s (%s)", _name(key), pending.strategy, outcome, detail)

    def _incident_for(self, key: TaskKey, ti: dict[str, Any]) -> Incident | None:
        """The incident of this failed try, once the failure callback has recorded it.

        Returns None while waiting for the callback; after the grace period the failure is
        recorded from the API's view (a killed task runs no callback).
        """
        store = self.healer.store
        task_id, map_index = key
        incident = store.find_incident(self.dag_id, self.run_id, task_id, map_index)
        try_number = int(ti.get("try_number") or 1)
        if incident and any(f.try_number == try_number for f in incident.failures):
            return incident
        first = self._first_seen.setdefault((key, try_number), self.clock())
        if self.clock() - first < self.grace:
            return None
        log.warning("%s try %d failed but no failure callback recorded it; recording it from the API",
                    _name(key), try_number)
        failure = make_failure(
            dag_id=self.dag_id, task_id=task_id, run_id=self.run_id, map_index=map_index, try_number=try_number,
            operator=ti.get("operator"), message=f"Task failed with no captured error (state {ti['state']}); "
            "see the task log. The task may have been killed (OOM, heartbeat timeout) before its callback ran.",
            hostname=ti.get("hostname"), source="healer",
        )
        store.record_failure(failure)
        return store.find_incident(self.dag_id, self.run_id, task_id, map_index)

    def _handle_failure(self, key: TaskKey, ti: dict[str, Any]) -> None:
        try_number = int(ti.get("try_number") or 1)
        if key in self._settled and self._settled[key][0] >= try_number:
            return
        incident = self._incident_for(key, ti)
        if incident is None:
            return
        store = self.healer.store
        if not store.claim(incident.id, self.owner):
            self._settled[key] = (try_number, "another healer holds this incident")
            log.info("%s is being healed by another healer; leaving it alone", _name(key))
            return
        incident = read_try_log(self.healer, self.api, incident, try_number)
        classification = self.healer.classify(incident)
        decision = self.healer.decide(incident, classification)
        log.info("%s: %s (%s)", _name(key), decision.verdict, decision.reason)
        if decision.verdict is Verdict.ACT:
            assert decision.strategy is not None
            store.set_status(incident.id, IncidentStatus.HEALING, decision.reason)
            self._due[key] = _Due(self.clock() + decision.delay, incident.id, decision.attempt,
                                  decision.strategy.name, decision.detail)
            if decision.delay:
                log.info("%s: %s in %.0fs", _name(key), decision.strategy.name, decision.delay)
            return
        if decision.verdict is Verdict.PROPOSE:
            assert decision.strategy is not None
            action_id = store.add_action(incident.id, Action(decision.strategy.name, decision.attempt,
                                                             Outcome.PROPOSED, decision.reason,
                                                             risky=decision.strategy.risky))
            try:
                content = self.healer.propose(incident, decision, classification.error_type)
                proposal = store.add_proposal(incident, decision.strategy.name, content.get("summary") or
                                              decision.reason, self.healer.config.approval_timeout_seconds,
                                              content=content, waiter=",".join(sorted(self.own)))
            except Exception as exc:  # noqa: BLE001 - the proposal stays an action a person reads
                log.warning("%s: could not open a proposal for approval: %s", _name(key), exc)
            else:
                # The run waits for a person: approved, the task is retried in this run; rejected or
                # expired, the run ends failed with the reason.
                self._awaiting[key] = _Awaiting(proposal["id"], incident.id, action_id, try_number,
                                                decision.strategy.name, decision.attempt)
                store.set_status(incident.id, IncidentStatus.ESCALATED,
                                 f"waiting for a person: proposal {proposal['id']} ({decision.reason}); "
                                 f"`airflow-healer proposals approve {proposal['id']}` retries the task in this run")
                log.info("%s: waiting for approval of proposal %s (expires %s): %s", _name(key), proposal["id"],
                         proposal["expires_at"], proposal["change"])
                if self.ask_people is not None:
                    waiting = [p for p in (store.get_proposal(w.proposal_id) for w in self._awaiting.values()) if p]
                    try:
                        self.ask_people(waiting)
                    except Exception as exc:  # noqa: BLE001 - the CLI still decides
                        log.warning("Could not ask in Airflow's Required Actions: %s", exc)
                return
            status = IncidentStatus.ESCALATED
        elif decision.verdict is Verdict.OBSERVE:
            status = IncidentStatus.OPEN
        elif decision.verdict is Verdict.ESCALATE:
            status = IncidentStatus.ESCALATED
        else:
            status = IncidentStatus.NOT_RECOVERED
        store.set_status(incident.id, status, decision.reason)
        store.release(incident.id, self.owner)
        self._settled[key] = (try_number, decision.reason)

    def _check_awaiting(self) -> None:
        store = self.healer.store
        for key, waiting in list(self._awaiting.items()):
            proposal = store.get_proposal(waiting.proposal_id)
            status = proposal["status"] if proposal else "expired"
            if status == "pending":
                continue
            del self._awaiting[key]
            if status == "approved":
                who = f"approved by {proposal['decided_by']}" + (f": {proposal['note']}" if proposal["note"] else "")
                store.finish_action(waiting.action_id, Outcome.SKIPPED, who)
                store.set_status(waiting.incident_id, IncidentStatus.HEALING, who)
                self._due[key] = _Due(self.clock(), waiting.incident_id, waiting.attempt, waiting.strategy,
                                      who + "; retrying", proposal_id=waiting.proposal_id)
                log.info("%s: proposal %s %s", _name(key), waiting.proposal_id, who)
                continue
            if status == "rejected":
                reason = f"proposal {waiting.proposal_id} rejected by {proposal['decided_by']}" + (
                    f": {proposal['note']}" if proposal["note"] else "")
            else:
                reason = (f"proposal {waiting.proposal_id} expired: no decision within [healer] approval_timeout "
                          f"({self.healer.config.approval_timeout})")
            store.finish_action(waiting.action_id, Outcome.SKIPPED, reason)
            store.set_status(waiting.incident_id, IncidentStatus.NOT_RECOVERED, reason)
            store.release(waiting.incident_id, self.owner)
            self._settled[key] = (waiting.try_number, reason)
            log.info("%s: %s", _name(key), reason)

    def _refresh(self, incident: Incident | None) -> str:
        return _refresh_connections(self.healer, self.api, incident, self.read_secret)

    def _clear_due(self) -> None:
        now = self.clock()
        for key, due in list(self._due.items()):
            if due.when > now:
                continue
            del self._due[key]
            incident_id, attempt, strategy = due.incident_id, due.attempt, due.strategy
            task_id, map_index = key
            target: Any = task_id if map_index < 0 else [task_id, map_index]
            others = sorted(set(self.downstream(task_id)) - self.own - {task_id})
            incident = self.healer.store.get_incident(incident_id)
            tries = incident.last_try_number if incident else 0
            note = (f"airflow_healer: {strategy} {attempt} of {task_id} ({incident.error_type if incident else '?'})"
                    + (f": {due.detail}" if due.detail else ""))
            store = self.healer.store
            if not store.act_once(self.dag_id, self.run_id, task_id, map_index, tries, actor=self.owner,
                                  strategy=strategy) and (
                    actor := store.acted_by(self.dag_id, self.run_id, task_id, map_index, tries)) != self.owner:
                # (This healer's own key: an earlier try of the healer task stopped before the clear.)
                reason = f"try {tries} was acted on already by {actor}; the healer does not act twice"
                store.release(incident_id, self.owner)
                self._settled[key] = (tries, reason)
                log.info("%s: %s", _name(key), reason)
                continue
            # An approved change the healer can make itself (an additive schema update) comes first.
            problem, applied = apply_approved_change(self.healer, due.proposal_id) if due.proposal_id else ("", "")
            # The action is stored before the clear: the next try renders healer.tier from the steps taken.
            detail = "; ".join(filter(None, [due.detail, applied,
                                             f"cleared the task (and what follows it) after try {tries}"]))
            action_id = store.add_action(incident_id, Action(strategy, attempt, Outcome.PENDING, detail))
            if not problem and strategy == "refresh_credentials":
                problem = self._refresh(incident)
            if problem:
                store.finish_action(action_id, Outcome.FAILED, problem)
                store.set_status(incident_id, IncidentStatus.NOT_RECOVERED, problem)
                store.release(incident_id, self.owner)
                self._settled[key] = (tries, problem)
                continue
            try:
                cleared = self.api.clear(self.dag_id, self.run_id, [target, *others], note=note)
            except AirflowApiError as exc:
                store.finish_action(action_id, Outcome.FAILED, f"clear failed: {exc}")
                store.set_status(incident_id, IncidentStatus.NOT_RECOVERED, f"could not clear the task: {exc}")
                store.release(incident_id, self.owner)
                self._settled[key] = (tries, f"could not clear the task: {exc}")
                continue
            log.debug("%s: the clear took %d task instance(s)", _name(key), len(cleared))
            self._pending[key] = _Pending(incident_id, action_id, tries, strategy)
            log.info("%s: %s", _name(key), detail)


def settle_action(healer: Healer, incident_id: str, action_id: int, strategy: str, outcome: Outcome, detail: str,
                  status: IncidentStatus | None, owner: str) -> bool:
    """Record how an action came out, learn from it, and set the incident's status: once, by whoever sees the
    outcome first (the healer task, or the retried task's own success callback). False if it was recorded."""
    store = healer.store
    if not store.finish_action(action_id, outcome, detail, only_pending=True):
        return False
    incident = store.get_incident(incident_id)
    if incident is not None:
        try:
            healer.learn(incident, strategy, outcome is Outcome.SUCCESS)
        except Exception as exc:  # noqa: BLE001 - learning must never stop the healing
            log.warning("Could not learn from incident %s: %s", incident_id, exc)
    if status is not None:
        store.set_status(incident_id, status, detail if status is not IncidentStatus.RECOVERED else "")
        store.release(incident_id, owner)
    return True


def record_recovery(healer: Healer, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> int:
    """A retried try succeeded: settle the actions that wait for it (what the healer would, had it not been
    skipped: Airflow skips a ``one_failed`` healer once every task it follows has succeeded). Returns how
    many it settled."""
    store = healer.store
    incident = store.find_incident(dag_id, run_id, task_id, map_index)
    if incident is None:
        return 0
    settled = 0
    for action in incident.actions:
        if action.outcome is Outcome.PENDING and action.id is not None:
            settled += settle_action(healer, incident.id, action.id, action.strategy, Outcome.SUCCESS,
                                     f"try {try_number} success", IncidentStatus.RECOVERED, f"healer:{dag_id}:{run_id}")
    return settled


def apply_approved_change(healer: Healer, proposal_id: str) -> tuple[str, str]:
    """Make the change an approved proposal names, when the healer can make it itself (an additive BigQuery
    schema update); returns (what went wrong, what was done), both '' when there is nothing to apply."""
    from airflow_healer.core.remediate.apply import ChangeError, apply_change

    proposal = healer.store.get_proposal(proposal_id)
    change = ((proposal or {}).get("content") or {}).get("apply")
    if not change:
        return "", ""
    if proposal is None or proposal["status"] != "approved":
        return f"proposal {proposal_id} is {(proposal or {}).get('status', 'gone')}, not approved: nothing applied", ""
    try:
        done = apply_change(change, gcp_conn_id=healer.config.gcp_conn_id)
    except ChangeError as exc:
        return f"could not apply the approved change of proposal {proposal_id}: {exc}", ""
    log.info("Applied the approved change of proposal %s: %s", proposal_id, done)
    return "", done


def _refresh_connections(healer: Healer, api: AirflowApi, incident: Incident | None,
                         read_secret: Callable[[str], dict[str, Any]] | None) -> str:
    """Update the incident's connections from their sources; returns what went wrong ('' when all did)."""
    if incident is None:
        return "the incident disappeared from the store"
    if read_secret is None:
        from airflow_healer.hooks.credentials import read_secret as default_read

        def read_secret(url: str) -> dict[str, Any]:
            return default_read(url, gcp_conn_id=healer.config.gcp_conn_id)

    sources = healer.credential_sources
    for conn_id in incident.conn_ids:
        if conn_id not in sources:
            continue
        try:
            fields = read_secret(sources[conn_id])
            api.update_connection(conn_id, fields)
        except Exception as exc:  # noqa: BLE001 - CredentialError, AirflowApiError: said on the incident
            return f"could not refresh the connection {conn_id!r}: {exc}"
        log.info("%s.%s: refreshed the connection %s (%s) from its source", incident.dag_id, incident.task_id,
                 conn_id, ", ".join(sorted(fields)))
    return ""


def read_try_log(healer: Healer, api: AirflowApi, incident: Incident, try_number: int) -> Incident:
    """Read the failed try's log through the API into its failure, unless the capture already did.

    A log that cannot be read (gone, remote store down) leaves a note and the exception alone to
    classify from; it never stops the healing. A try recorded without an error (a killed task) gets
    its message from what the log says killed it.
    """
    from airflow_healer.core.logs import is_wrapper

    failure = next((f for f in incident.failures if f.try_number == try_number), None)
    if failure is None or failure.log_lines or failure.log_note:
        return incident
    message = None
    try:
        events = api.task_log(incident.dag_id, incident.run_id, incident.task_id, try_number, incident.map_index)
        located = healer.read_log(failure, events)
        if located.killed and is_wrapper(failure.message):
            message = f"Task {located.killed}; it raised no exception (see its log)."
        if located.total_lines == 0:
            failure.log_note = ("the log could not be read: the API returned no lines (the file is gone and no "
                                "remote log holds it); classified from the exception alone")
        elif not located.lines and not failure.log_note:
            failure.log_note = "the log has no telling lines"
    except AirflowApiError as exc:
        failure.log_note = f"the log could not be read ({exc}); classified from the exception alone"
        log.warning("%s.%s try %d: %s", incident.dag_id, incident.task_id, try_number, failure.log_note)
    try:
        healer.store.add_log(incident.id, try_number, excerpt=failure.log_excerpt, lines=failure.log_lines,
                             note=failure.log_note, message=message, fingerprint=failure.fingerprint or None)
        return healer.store.get_incident(incident.id) or incident
    except Exception as exc:  # noqa: BLE001 - classify from what is in hand
        log.warning("Could not store the log of %s.%s try %d: %s", incident.dag_id, incident.task_id, try_number, exc)
        incident.log_lines, incident.log_note = failure.log_lines, failure.log_note
        return incident


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _name(key: TaskKey) -> str:
    task_id, map_index = key
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"
