"""The watchdog's cycle: find the task instances that failed since the last cycle, in every DAG, and
give each failed try an incident classified from its log.

It is for what failure callbacks miss: DAGs nobody wired, tasks killed by SIGKILL or the OOM killer
(no callback runs), heartbeat timeouts and states set by hand. A try that a callback already
recorded is left as it is (no duplicate). The cycle is bounded (``watchdog_max_per_cycle``, paged
API reads) and resumable: a watermark (the ``end_date`` of the last failure handled) is kept in the
store, and the first cycle looks back ``watchdog_lookback``.

It records and classifies everywhere; it retries only the DAGs ``watchdog_heal`` names (none by
default), and checks the outcome of those retries on its next cycles.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from airflow_healer.core.capture import NO_CALLBACK_ERROR, make_failure
from airflow_healer.core.healer import Healer
from airflow_healer.core.logs import parse_log
from airflow_healer.core.remediate.engine import Verdict
from airflow_healer.core.remediate.run import _refresh_connections, read_try_log, settle_action
from airflow_healer.core.types import Action, Incident, IncidentStatus, Outcome
from airflow_healer.exceptions import AirflowApiError

log = logging.getLogger(__name__)


def rendered_conn_ids(ti: dict[str, Any]) -> list[str]:
    """The connections a task instance names in its rendered template fields (``conn_id``, ``*_conn_id``):
    what the watchdog knows of a task no callback described."""
    fields = ti.get("rendered_fields") or {}
    if not isinstance(fields, dict):
        return []
    return sorted({v for k, v in fields.items() if (k == "conn_id" or k.endswith("_conn_id"))
                   and isinstance(v, str) and 0 < len(v) <= 250})

STATE_BLOB = "watchdog-state"
PAGE = 100
#: The healer's own tasks: a healer task fails on purpose when its run stays broken (the broken task
#: has its incident already), a remediation fails to say it was refused or did not heal (its target has
#: the incident), and the watchdog does not watch itself.
OWN_OPERATORS = frozenset({"HealOperator", "HealerWatchdogSensor", "WatchdogCycleOperator", "RemediateOperator",
                           "ClassifyErrorOperator", "RetryTaskOperator", "RescaleOperator",
                           "RefreshCredentialsOperator"})
#: A callback-recorded try that no healer task classified within this long is classified by the watchdog.
UNCLASSIFIED_GRACE = timedelta(minutes=10)
NO_ERROR = NO_CALLBACK_ERROR
NEVER_RAN = ("Task failed without running (no start time): its state was set from outside, by hand in the UI "
             "or through the API, or it was failed before it started.")
SET_FROM_OUTSIDE = ("Task failed with no error in its log: its state was most likely set from outside (by hand, "
                    "the API, or the scheduler after a heartbeat timeout).")


def read_state(store: Any) -> dict[str, Any]:
    """The watchdog's stored state: watermark, last cycle and its report, retries in flight."""
    blob = store.get_blob(STATE_BLOB)
    if not blob:
        return {}
    try:
        state = json.loads(blob.decode("utf-8"))
        return state if isinstance(state, dict) else {}
    except ValueError:
        log.warning("The watchdog's stored state is unreadable; starting from the lookback")
        return {}


def read_watermark(store: Any, config: Any, now: datetime | None = None) -> str:
    """Failures that ended after this are new; before the first cycle, ``watchdog_lookback`` ago."""
    now = now or datetime.now(timezone.utc)
    return read_state(store).get("watermark") or _iso(now - timedelta(seconds=config.watchdog_lookback_seconds))


class WatchdogApi(Protocol):
    def failed_task_instances(self, *, since: str, until: str, limit: int = PAGE, offset: int = 0,
                              inclusive: bool = False) -> dict[str, Any]:
        """A page of failed task instances of every DAG with since < end_date <= until (since <= end_date
        when ``inclusive``), oldest first."""

    def successful_task_instances(self, *, since: str, limit: int = 20) -> list[dict[str, Any]]: ...

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> list[Any]: ...

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]: ...

    def clear(self, dag_id: str, run_id: str, task_ids: list[Any], *, note: str = "",
              reset_dag_runs: bool = False) -> list[dict[str, Any]]: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


@dataclass
class CycleReport:
    since: str
    until: str
    watermark: str = ""
    seen: int = 0
    recorded: int = 0  # new incidents or new tries of known ones
    already_recorded: int = 0  # a callback (or an earlier cycle) had the try: no duplicate
    excluded: int = 0
    classified: dict[str, int] = field(default_factory=dict)  # error type -> count
    killed: int = 0
    unreadable_logs: int = 0
    retried: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    learnt_templates: int = 0
    errors: list[str] = field(default_factory=list)
    more: bool = False  # the cycle stopped at watchdog_max_per_cycle; the rest waits for the next one

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.classified.items())) or "none"
        return (f"{self.seen} failed task instance(s) since {self.since}: {self.recorded} recorded, "
                f"{self.already_recorded} already recorded, {self.excluded} excluded; classified: {kinds}; "
                f"{self.killed} killed, {self.unreadable_logs} unreadable log(s), {len(self.retried)} retried"
                + (f"; {len(self.errors)} error(s)" if self.errors else "")
                + ("; more wait for the next cycle" if self.more else ""))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Watchdog:
    """One watchdog cycle over every DAG (see the module docstring).

    :param healer: records, classifies and decides (its config holds the ``watchdog_*`` settings).
    :param api: Airflow's REST API (see :class:`WatchdogApi`).
    :param now: the clock, for tests.
    """

    def __init__(self, healer: Healer, api: WatchdogApi, *, now: Any = None):
        self.healer = healer
        self.api = api
        self.config = healer.config
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.owner = f"watchdog:{socket.gethostname()}:{os.getpid()}"
        self.include = _patterns(self.config.watchdog_include) or ["*"]
        self.exclude = _patterns(self.config.watchdog_exclude)
        self.heal = _patterns(self.config.watchdog_heal)

    # -- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return read_state(self.healer.store)

    def watermark(self) -> str:
        return read_watermark(self.healer.store, self.config, self._now())

    def _save(self, report: CycleReport, pending: list[dict[str, Any]]) -> None:
        # A cycle that stopped at its bound may have left failures with the same end_date as the last one it
        # handled: the next cycle starts *at* the watermark, and what was recorded already is skipped.
        state = {"watermark": report.watermark, "inclusive": report.more, "last_cycle": _iso(self._now()),
                 "last_report": report.as_dict(), "pending": pending}
        self.healer.store.put_blob(STATE_BLOB, json.dumps(state).encode(), {"watermark": report.watermark})

    # -- the cycle ----------------------------------------------------------------------------

    def wants(self, dag_id: str) -> bool:
        return (any(fnmatch.fnmatchcase(dag_id, p) for p in self.include)
                and not any(fnmatch.fnmatchcase(dag_id, p) for p in self.exclude))

    def heals(self, dag_id: str) -> bool:
        return any(fnmatch.fnmatchcase(dag_id, p) for p in self.heal)

    def cycle(self) -> CycleReport:
        state = self.state()
        since, inclusive = self.watermark(), bool(state.get("inclusive"))
        until = _iso(self._now() - timedelta(seconds=self.config.watchdog_settle_seconds))
        if until <= since:
            until = since
        report = CycleReport(since=since, until=until, watermark=since)
        pending = self._check_retries(state.get("pending", []), report)
        try:
            self.healer.replay_spool()
        except Exception as exc:  # noqa: BLE001 - the spool waits for the next cycle
            log.warning("Could not replay the failure spool: %s", exc)
        if self.config.pubsub_topic:
            try:
                from airflow_healer.gcp.pubsub import replay_pubsub_spool

                replay_pubsub_spool(self.config)  # what still fails waits for the next cycle
            except Exception as exc:  # noqa: BLE001 - Pub/Sub must not stop a cycle
                log.warning("Could not replay the Pub/Sub spool: %s", exc)
        offset, last_end = 0, since
        budget = self.config.watchdog_max_per_cycle
        # Failures already recorded cost no budget, but reading them does: at most this many pages.
        pages = 10 + 10 * (budget // PAGE + 1)
        while budget > 0 and pages > 0:
            pages -= 1
            page = self.api.failed_task_instances(since=since, until=until, limit=PAGE, offset=offset,
                                                  inclusive=inclusive)
            tis = page.get("task_instances", [])
            for ti in tis:
                if budget <= 0:
                    report.more = True
                    break
                report.seen += 1
                recorded = report.recorded
                try:
                    retried = self._handle(ti, report)
                    if retried:
                        pending.append(retried)
                except Exception as exc:  # noqa: BLE001 - one bad task instance must not stop the cycle
                    name = f"{ti.get('dag_id')}.{ti.get('task_id')}"
                    log.exception("Watchdog could not handle %s", name)
                    report.errors.append(f"{name}: {exc}")
                    recorded -= 1  # it cost work: count it
                budget -= report.recorded - recorded
                last_end = ti.get("end_date") or last_end
            offset += len(tis)
            if report.more or not tis or offset >= int(page.get("total_entries", 0)):
                break
        if pages <= 0 and not report.more and budget > 0:
            report.more = True
        report.watermark = last_end if report.more else until
        report.learnt_templates = self._learn_boilerplate(since)
        self._save(report, pending)
        log.info("Watchdog cycle: %s", report.summary())
        return report

    # -- one failed task instance ---------------------------------------------------------------

    def _handle(self, ti: dict[str, Any], report: CycleReport) -> dict[str, Any] | None:
        dag_id, task_id = ti["dag_id"], ti["task_id"]
        run_id = ti.get("dag_run_id") or ti["run_id"]
        map_index = int(ti.get("map_index", -1) if ti.get("map_index") is not None else -1)
        try_number = int(ti.get("try_number") or 0)
        if not self.wants(dag_id) or ti.get("operator") in OWN_OPERATORS:
            report.excluded += 1
            return None
        store = self.healer.store
        incident = store.find_incident(dag_id, run_id, task_id, map_index)
        if incident is not None and any(f.try_number == try_number for f in incident.failures):
            report.already_recorded += 1
            self._classify_forgotten(incident, try_number, report)
            return None
        failure = make_failure(
            dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number,
            operator=ti.get("operator"), message=NEVER_RAN if not ti.get("start_date") else NO_ERROR,
            hostname=ti.get("hostname"), started_at=ti.get("start_date"), source="watchdog",
            conn_ids=rendered_conn_ids(ti),
        )
        incident_id = store.record_failure(failure)
        report.recorded += 1
        try:
            if not store.claim(incident_id, self.owner, lease_seconds=300):
                return None  # a healer task holds it: it reads the log and classifies
            try:
                return self._read_and_classify(incident_id, ti, dag_id, try_number, map_index, report)
            finally:
                store.release(incident_id, self.owner)
        finally:
            self._publish(incident_id, failure)

    def _publish(self, incident_id: str, failure: Any) -> None:
        """Send the recorded try, with what its log and classification added, to ``[healer] pubsub_topic``."""
        if not self.config.pubsub_topic:
            return
        try:
            from airflow_healer.gcp.pubsub import publish_incident

            incident = self.healer.store.get_incident(incident_id)
            tries = {f.try_number: f for f in incident.failures} if incident else {}
            publish_incident(tries.get(failure.try_number, failure), self.config, incident_id,
                             incident.error_type if incident else None)
        except Exception as exc:  # noqa: BLE001 - the incident is stored; only its event is missing
            log.warning("Could not publish the failure of %s.%s: %s", failure.dag_id, failure.task_id, exc)

    def _read_and_classify(self, incident_id: str, ti: dict[str, Any], dag_id: str, try_number: int,
                           map_index: int, report: CycleReport) -> dict[str, Any] | None:
        store = self.healer.store
        incident = store.get_incident(incident_id)
        assert incident is not None
        if ti.get("start_date") and try_number > 0:
            incident = read_try_log(self.healer, self.api, incident, try_number)
            incident = self._explain_silent_failure(incident, try_number)
        elif not incident.log_note:
            store.add_log(incident.id, try_number, excerpt="", lines=[], note="the task never started: no log")
            incident = store.get_incident(incident.id) or incident
        if "could not be read" in incident.log_note:
            report.unreadable_logs += 1
        if "killed" in incident.log_note:
            report.killed += 1
        classification = self.healer.classify(incident)
        report.classified[classification.error_type.value] = report.classified.get(
            classification.error_type.value, 0) + 1
        if self.heals(dag_id):
            return self._heal(incident, classification, map_index, report)
        self.healer.store.set_status(incident.id, IncidentStatus.OPEN,
                                     f"recorded by the watchdog; classified {classification.error_type} "
                                     f"({classification.confidence:.2f}); the watchdog does not heal {dag_id}")
        return None

    def _explain_silent_failure(self, incident: Incident, try_number: int) -> Incident:
        """A try whose log names no exception and no killer was failed from outside: say so."""
        failure = next(f for f in incident.failures if f.try_number == try_number)
        if failure.message != NO_ERROR:
            return incident  # an exception, or what killed it, is known
        # Any telling line (an exception, an ERROR, a line in an error shape, a wrapper exception) means
        # the task itself failed and said so: only a log with none of them points at the outside.
        telling = any(line["why"] in ("exception", "error level", "error shape", "wrapper")
                      for line in incident.log_lines)
        if telling or "could not be read" in incident.log_note:
            return incident
        self.healer.store.add_log(incident.id, try_number, excerpt=failure.log_excerpt, lines=failure.log_lines,
                                  note=failure.log_note or "no exception in the log", message=SET_FROM_OUTSIDE)
        return self.healer.store.get_incident(incident.id) or incident

    def _classify_forgotten(self, incident: Incident, try_number: int, report: CycleReport) -> None:
        """A callback recorded the try, but no healer task classified it (a DAG with the callback only)."""
        if incident.error_type is not None or incident.status is not IncidentStatus.OPEN:
            return
        updated = datetime.fromisoformat(incident.updated_at)
        if self._now() - updated < UNCLASSIFIED_GRACE:
            return  # the DAG's own healer task may be about to take it
        if not self.healer.store.claim(incident.id, self.owner, lease_seconds=120):
            return
        try:
            incident = read_try_log(self.healer, self.api, incident, try_number)
            classification = self.healer.classify(incident)
            report.classified[classification.error_type.value] = report.classified.get(
                classification.error_type.value, 0) + 1
        finally:
            self.healer.store.release(incident.id, self.owner)

    # -- healing what is configured ----------------------------------------------------------------

    def _heal(self, incident: Incident, classification: Any, map_index: int,
              report: CycleReport) -> dict[str, Any] | None:
        """Act on a failure of a DAG that ``watchdog_heal`` names, as its own healer task would: retry,
        rescale (the action is stored before the clear, so ``healer.tier`` renders the next rung), refresh
        its connections; once per failed try, whoever else is healing."""
        store = self.healer.store
        decision = self.healer.decide(incident, classification)
        if decision.verdict is not Verdict.ACT or decision.strategy is None:
            # No healer task waits in this run: a person approves, then carries it out with
            # healer_remediate (proposal_id) or ApplyProposalOperator.
            self.healer.hold(incident, decision, classification,
                             then="; approve it, then trigger healer_remediate with proposal_id={id}")
            return None
        strategy, tries = decision.strategy.name, incident.last_try_number
        if not store.act_once(incident.dag_id, incident.run_id, incident.task_id, map_index, tries,
                              actor=self.owner, strategy=strategy):
            log.info("%s.%s try %d was acted on already by %s", incident.dag_id, incident.task_id, tries,
                     store.acted_by(incident.dag_id, incident.run_id, incident.task_id, map_index, tries))
            return None
        detail = "; ".join(filter(None, [decision.detail, f"cleared by the watchdog after try {tries}"]))
        action_id = store.add_action(incident.id, Action(strategy, decision.attempt, Outcome.PENDING, detail))
        problem = _refresh_connections(self.healer, self.api, incident, None) if strategy == "refresh_credentials" else ""
        target: Any = incident.task_id if map_index < 0 else [incident.task_id, map_index]
        if not problem:
            try:
                # The run has ended (failed): it goes back to queued so that the scheduler runs the cleared task.
                self.api.clear(incident.dag_id, incident.run_id, [target], reset_dag_runs=True,
                               note=f"airflow_healer watchdog: {strategy} {decision.attempt} "
                                    f"({classification.error_type})")
            except AirflowApiError as exc:
                problem = f"could not clear the task: {exc}"
        if problem:
            store.finish_action(action_id, Outcome.FAILED, problem)
            store.set_status(incident.id, IncidentStatus.NOT_RECOVERED, problem)
            return None
        store.set_status(incident.id, IncidentStatus.HEALING, decision.reason)
        report.retried.append(f"{incident.dag_id}.{incident.task_id}")
        return {"incident_id": incident.id, "action_id": action_id, "cleared_try": tries,
                "map_index": map_index, "strategy": strategy}

    def _check_retries(self, pending: list[dict[str, Any]], report: CycleReport) -> list[dict[str, Any]]:
        """Outcomes of the watchdog's earlier retries; returns those still running."""
        still = []
        store = self.healer.store
        for item in pending:
            incident = store.get_incident(item["incident_id"])
            if incident is None:
                continue
            try:
                tis = self.api.task_instances(incident.dag_id, incident.run_id)
            except AirflowApiError as exc:
                if getattr(exc, "status_code", None) == 404:
                    store.finish_action(item["action_id"], Outcome.FAILED, "the DAG run no longer exists")
                    store.set_status(incident.id, IncidentStatus.NOT_RECOVERED, "the DAG run no longer exists")
                    store.release(incident.id, self.owner)
                else:
                    still.append(item)
                continue
            ti = next((t for t in tis if t["task_id"] == incident.task_id
                       and int(t.get("map_index", -1)) == item["map_index"]), None)
            state = ti["state"] if ti else "removed"
            if state in ("success", "skipped"):
                outcome, status, detail = Outcome.SUCCESS, IncidentStatus.RECOVERED, f"try {ti['try_number']} {state}"
            elif state in ("failed", "upstream_failed", "removed"):
                # A new failed try is found by the failed-task listing and decided again.
                outcome, status, detail = Outcome.FAILED, None, f"ended {state} after the retry"
            else:
                still.append(item)
                continue
            settle_action(self.healer, incident.id, item["action_id"], item.get("strategy", "retry"), outcome, detail,
                          status, self.owner)
            store.release(incident.id, self.owner)
            report.outcomes[str(outcome)] = report.outcomes.get(str(outcome), 0) + 1
        return still

    # -- learning what boilerplate looks like ------------------------------------------------------

    def _learn_boilerplate(self, since: str) -> int:
        limit = self.config.watchdog_learn_per_cycle
        if limit <= 0:
            return 0
        new = 0
        try:
            successes = self.api.successful_task_instances(since=since, limit=limit)
        except Exception as exc:  # noqa: BLE001 - learning is a bonus, never a reason to fail the cycle
            log.warning("Could not list successful tries to learn boilerplate from: %s", exc)
            return 0
        for ti in successes:
            try:
                events = self.api.task_log(ti["dag_id"], ti.get("dag_run_id") or ti["run_id"], ti["task_id"],
                                           int(ti.get("try_number") or 1), int(ti.get("map_index", -1)))
                new += self.healer.learn_boilerplate([line.text for line in parse_log(events)])
            except Exception as exc:  # noqa: BLE001 - one unreadable log: learn from the others
                log.warning("Could not learn boilerplate from %s.%s: %s", ti.get("dag_id"), ti.get("task_id"), exc)
        return new
