"""The healer task: heals the failed tasks of its own DAG run, then reports the run's truth."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.healer import Healer
from airflow_healer.core.remediate.run import APPROVE, REJECT, RunHealer, RunReport, Wait
from airflow_healer.exceptions import RunNotFound
from airflow_healer.hooks.airflow_api import AirflowApiHook

try:  # Airflow >= 3.3: wait for people in awaiting_input, with neither a worker slot nor the triggerer
    from airflow.sdk.exceptions import TaskAwaitingInput
except ImportError:  # pragma: no cover - older Airflow: the trigger waits instead
    TaskAwaitingInput = None

#: Deadlines nearer than this are slept in the worker: a trip through the triggerer costs a task start.
SHORT_WAIT_SECONDS = 5.0
#: The XCom key of the worker-slot seconds held and the waits without a slot so far.
STATS_XCOM = "healer_stats"


class HealOperator(BaseOperator):
    """Heal this DAG run: classify each failed task, retry the retryable ones through the REST API,
    wait for every other task to finish, and fail when anything is left unhealed.

    Failing is deliberate: the healer is the run's only leaf, and a run's state follows its leaves,
    so a healer that succeeded over an unhealed task would paint a broken run green.

    :param airflow_api_conn_id: connection to Airflow's REST API (templated); ``[healer]`` default.
    :param max_attempts: retries per task in this run; ``[healer] max_attempts`` by default.
    :param mode: ``observe``, ``recommend`` or ``act``; ``[healer] mode`` by default.
    :param healer: a ready :class:`Healer` (tests, custom stores); built from the config otherwise.
    :param notifiers: called with the task's context whenever it asks people (Airflow's HITL notifiers, a
        ``BaseNotifier`` that posts to Slack or sends a mail, as for ``HITLOperator``).
    :param deferrable: wait for backoffs, re-runs and approvals without a worker slot: in the triggerer
        (:class:`~airflow_healer.triggers.run.HealerRunTrigger`), or for people alone in
        ``awaiting_input`` (Airflow >= 3.3). False polls from the worker slot, as before.

    A risky fix waits for a person in Airflow's Required Actions (Approve / Reject) as well as in
    ``airflow-healer proposals``; either answer counts, once. The task returns what it healed and the
    worker-slot seconds it held (``slot_seconds``), which ``bench/bench_faults.py`` reports.
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
        deferrable: bool = True,
        notifiers: Sequence[Any] | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("trigger_rule", TriggerRule.ONE_FAILED)
        # A retry resumes from the state kept in the store: Airflow 3.3 can fail a task that resumed from a
        # deferral before the scheduler saw its earlier exit (apache/airflow#71580), and workers die.
        kwargs.setdefault("retries", 2)
        kwargs.setdefault("retry_delay", timedelta(seconds=5))
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id
        self.max_attempts = max_attempts
        self.mode = mode
        self.healer = healer
        self.deferrable = deferrable
        self.notifiers = list(notifiers or [])

    def _config(self) -> HealerConfig:
        overrides = {k: v for k, v in (("airflow_api_conn_id", self.airflow_api_conn_id),
                                       ("max_attempts", self.max_attempts), ("mode", self.mode)) if v is not None}
        return HealerConfig.load().replace(**overrides)

    def execute(self, context: Any) -> dict[str, Any]:
        return self._heal(context, {}, None)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None,
                         state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired, or a person answered the Required Actions entry."""
        return self._heal(context, state or {}, event)

    def _heal(self, context: Any, state: dict[str, Any], event: dict[str, Any] | None) -> dict[str, Any]:
        began = time.monotonic()
        self._asked = bool(state.get("asked"))
        healer = self.healer or Healer(self._config())
        dag = context["dag"]
        own = {t.task_id for t in dag.tasks if isinstance(t, HealOperator)}
        hook = AirflowApiHook(healer.config.airflow_api_conn_id)
        run = RunHealer(
            healer, hook, dag_id=dag.dag_id, run_id=context["run_id"], own_task_ids=own,
            downstream=lambda task_id: dag.get_task(task_id).get_flat_relative_ids(upstream=False),
            ask_people=lambda proposals: self._ask_people(context, proposals),
        )
        if not state:
            state = self._earlier_try(context, healer)
        if state.get("run"):
            run.restore(state["run"])
        if event:
            self._on_event(run, event)
        try:
            while True:
                outcome = run.step()
                if isinstance(outcome, RunReport):
                    break
                now = time.time()
                if not self.deferrable or (outcome.until is not None and outcome.until - now <= SHORT_WAIT_SECONDS):
                    time.sleep(healer.config.poll_interval_seconds if outcome.until is None
                               else min(max(outcome.until - now, 0.0), healer.config.poll_interval_seconds))
                    continue
                self._wait(context, healer, run, outcome, {
                    "slot_seconds": state.get("slot_seconds", 0.0) + time.monotonic() - began,
                    "deferrals": state.get("deferrals", 0) + 1})
        except RunNotFound as exc:
            raise AirflowFailException(
                f"The DAG run {context['run_id']} no longer exists (deleted while healing?): {exc}"
            ) from exc
        slot_seconds = round(state.get("slot_seconds", 0.0) + time.monotonic() - began, 3)
        for name in outcome.healed:
            self.log.info("Healed %s", name)
        stats = {"slot_seconds": slot_seconds, "deferrals": state.get("deferrals", 0)}
        self.log.info("Held a worker slot for %.1fs in all; waited %d time(s) without one", slot_seconds,
                      stats["deferrals"])
        context["ti"].xcom_push(key=STATS_XCOM, value=stats)
        # A later try (Airflow may fail this one after it ended: apache/airflow#71580) resumes from what was
        # settled here and does not ask again; a try that failed since is still new to it.
        self._keep(context, healer, {"done": True, "run": run.dump(), **stats})
        if not outcome.ok:
            raise AirflowFailException(
                "This run is not healed: " + "; ".join(outcome.unhealed)
                + ". See `airflow-healer incidents list` for the incidents."
            )
        return {"healed": outcome.healed, **stats}

    def _wait(self, context: Any, healer: Healer, run: RunHealer, wait: Wait, state: dict[str, Any]) -> None:
        """Give the worker slot back until the run needs the healer again (raises TaskDeferred or
        TaskAwaitingInput)."""
        kwargs = {"state": {**state, "run": run.dump(), "asked": self._asked}}
        self._keep(context, healer, kwargs["state"])
        # Kept where a skipped healer leaves them too (Airflow skips it once everything it follows succeeded).
        context["ti"].xcom_push(key=STATS_XCOM, value={"slot_seconds": round(state["slot_seconds"], 3),
                                                       "deferrals": state["deferrals"]})
        if wait.only_people and self._asked and TaskAwaitingInput is not None and wait.until is not None:
            # Nothing can change but a person's answer: wait in awaiting_input, not even in the triggerer.
            # The answer (Required Actions, or `airflow-healer proposals approve`, which answers it too) or
            # the expiry (whose default is Reject) resumes the task.
            timeout = timedelta(seconds=max(wait.until - time.time(), 1.0))
            self.log.info("Waiting for a person's decision on %s (up to %s), without a worker slot",
                          ", ".join(wait.proposals), timeout)
            raise TaskAwaitingInput(method_name="execute_complete", kwargs=kwargs, timeout=timeout)
        from airflow_healer.triggers._settle import not_before
        from airflow_healer.triggers.run import HealerRunTrigger

        self.log.info("Waiting without a worker slot%s", f" until {time.strftime('%H:%M:%S', time.gmtime(wait.until))}"
                      " UTC or the run changes" if wait.until else " until the run changes")
        self.defer(
            trigger=HealerRunTrigger(
                airflow_api_conn_id=healer.config.airflow_api_conn_id, dag_id=run.dag_id, run_id=run.run_id,
                own_task_ids=sorted(run.own), wait=wait.to_dict(), store_url=healer.config.store_url,
                poll_interval=healer.config.poll_interval_seconds,
                not_before=not_before(healer.config.defer_settle_seconds)),
            method_name="execute_complete", kwargs=kwargs,
        )

    @staticmethod
    def _state_blob(context: Any) -> str:
        return f"healer-state/{context['dag'].dag_id}/{context['run_id']}/{context['ti'].task_id}"

    def _keep(self, context: Any, healer: Healer, state: dict[str, Any]) -> None:
        """Keep the state between steps in the store too, for a later try of this task to resume from."""
        import json

        try:
            healer.store.put_blob(self._state_blob(context), json.dumps(
                {**state, "try_number": context["ti"].try_number}).encode(), {"kind": "healer-state"})
        except Exception as exc:  # noqa: BLE001 - the deferral carries the state anyway
            self.log.warning("Could not keep the healer's state in the store: %s", exc)

    def _earlier_try(self, context: Any, healer: Healer) -> dict[str, Any]:
        """The state an earlier try of this healer task left: unfinished (it died or was failed mid-wait), or
        settled (Airflow failed it after it ended). Either way nothing it decided is decided again."""
        import json

        try:
            blob = healer.store.get_blob(self._state_blob(context))
            kept = json.loads(blob) if blob else {}
        except Exception as exc:  # noqa: BLE001 - start afresh
            self.log.warning("Could not read the healer's earlier state: %s", exc)
            return {}
        if not kept or int(kept.get("try_number", 0)) >= int(context["ti"].try_number):
            return {}
        self.log.info("Resuming from what try %s of this healer task %s", kept.get("try_number"),
                      "settled" if kept.get("done") else "left unfinished")
        kept.pop("try_number", None)
        kept.pop("done", None)
        return kept

    def _on_event(self, run: RunHealer, event: dict[str, Any]) -> None:
        if "chosen_options" in event:  # the Required Actions entry was answered (or expired)
            if event.get("timedout") or not event.get("chosen_options"):
                return  # the proposal expired: the store says so, and the step ends the run failed
            who = event.get("responded_by_user") or {}
            user = (who.get("name") or who.get("id") or "someone") if isinstance(who, dict) else str(who)
            approve = APPROVE in event["chosen_options"]
            decided = run.record_decision(approve, user, "in Airflow's Required Actions")
            self.log.info("%s %s in Airflow's Required Actions: %s", user, "approved" if approve else "rejected",
                          ", ".join(decided) or "already decided from the command line")
        elif event.get("status") == "error":
            self.log.warning("The trigger could not watch the run: %s; looking now", event.get("message"))
        else:
            self.log.info("Resumed: %s", event.get("why") or event.get("status"))

    def _ask_people(self, context: Any, proposals: list[dict[str, Any]]) -> None:
        """Show the proposals of this run in Airflow's Required Actions (one entry per healer task)."""
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail

        lines = []
        for p in proposals:
            content = p.get("content") or {}
            steps = "".join(f"\n    - {step}" for step in content.get("steps", []))
            lines.append(f"- **{p['task_id']}** ({p['strategy']}, proposal `{p['id']}`, expires {p['expires_at'][:19]}"
                         f" UTC): {p['change']}{steps}")
        upsert_hitl_detail(
            ti_id=context["task_instance"].id,
            options=[APPROVE, REJECT],
            subject=f"The healer asks: approve the fix for {', '.join(p['task_id'] for p in proposals)}?",
            body=("Approved, the healer retries the task in this run; rejected or unanswered, the run ends failed.\n\n"
                  + "\n".join(lines) + "\n\nThe same from the command line: `airflow-healer proposals approve ID`."),
            defaults=[REJECT],
            multiple=False,
            params={},
        )
        self._asked = True
        for notifier in self.notifiers:
            try:
                notifier(context)
            except Exception as exc:  # noqa: BLE001 - the entry is asked; a notifier must not undo it
                self.log.warning("A notifier failed to tell people about the proposal: %s", exc)
