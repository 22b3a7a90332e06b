"""Deciding a proposal, the same from the command line and the Healer page: once in the store, then the
waiting healer task's entry in Airflow's Required Actions is answered too (it resumes at once)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def decide(store: Any, proposal_id: str, approve: bool, user: str, note: str = "") -> tuple[dict[str, Any], str]:
    """Approve or reject ``proposal_id`` as ``user``; returns the proposal and a sentence for people.

    :raises StoreError: no such proposal, or it is decided or expired already (nothing is done).
    """
    proposal = store.decide_proposal(proposal_id, approve, user, note)
    what = "approved: the healer retries the task in its run" if approve else "rejected: the run ends failed"
    if approve and not proposal.get("waiter"):
        what = (f"approved; no healer task waits for it: trigger healer_remediate with "
                f"{{\"proposal_id\": \"{proposal['id']}\"}} to carry it out")
    message = f"Proposal {proposal['id']} for {proposal['dag_id']}.{proposal['task_id']} {what}."
    problem = answer_required_action(proposal, approve)
    if problem:
        message += " " + problem
    return proposal, message


def answer_required_action(proposal: dict[str, Any], approve: bool) -> str:
    """Answer the waiting healer task's Required Actions entry; returns what went wrong ('' if nothing)."""
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.remediate.run import APPROVE, REJECT
    from airflow_healer.exceptions import AirflowApiError, RunNotFound
    from airflow_healer.hooks.airflow_api import AirflowApiHook

    for waiter in filter(None, (proposal.get("waiter") or "").split(",")):
        try:
            AirflowApiHook(HealerConfig.load().airflow_api_conn_id, max_tries=2).respond_hitl(
                proposal["dag_id"], proposal["run_id"], waiter, [APPROVE if approve else REJECT])
            return ""
        except RunNotFound:
            continue  # that healer task asked nothing (an older healer, or another of the DAG's healers)
        except AirflowApiError as exc:
            if exc.status_code == 409:
                return ""  # answered already, in the UI
            log.warning("Could not answer the Required Actions entry of proposal %s: %s", proposal["id"], exc)
            return (f"(Could not answer the healer's Required Actions entry ({exc}); the healer sees the decision "
                    "within its poll interval when it waits in the triggerer, or when the proposal expires when "
                    "it waits in awaiting_input.)")
    return ""
