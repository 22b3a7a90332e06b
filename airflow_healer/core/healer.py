"""The Healer: one object that records, classifies and decides, over an injected store."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_healer.core.capture import Spool, attach_log, record_failure
from airflow_healer.core.classify import Classifier, get_classifier
from airflow_healer.core.config import HealerConfig
from airflow_healer.core.remediate.engine import Decision, Verdict, decide, rescale_steps
from airflow_healer.core.store import Store, open_store
from airflow_healer.core.types import Action, Classification, Failure, Incident, IncidentStatus, Outcome

if TYPE_CHECKING:
    from airflow_healer.core.logs import BoilerplateMiner, Located

log = logging.getLogger(__name__)

#: Where the boilerplate templates learnt from this deployment's successful logs are kept.
BOILERPLATE_BLOB = "log-boilerplate"


class Healer:
    """Capture, classify and decide; acting is left to the edge that can reach Airflow or GCP.

    :param config: the ``[healer]`` settings; read from the environment and airflow.cfg when omitted.
    :param store: where incidents live; the store ``config.store_url`` names when omitted.
    :param classifier: the error classifier; the best available one when omitted.
    """

    def __init__(
        self,
        config: HealerConfig | None = None,
        *,
        store: Store | None = None,
        classifier: Classifier | None = None,
    ):
        self.config = config or HealerConfig.load()
        self._store = store
        self._classifier = classifier

    @cached_property
    def store(self) -> Store:
        return self._store or open_store(self.config.store_url)

    @cached_property
    def classifier(self) -> Classifier:
        return self._classifier or get_classifier(self.config, self.store)

    @cached_property
    def _learnt_boilerplate(self) -> BoilerplateMiner:
        from airflow_healer.core.logs import BoilerplateMiner

        try:
            blob = self.store.get_blob(BOILERPLATE_BLOB)
            return BoilerplateMiner.from_bytes(blob) if blob else BoilerplateMiner()
        except Exception as exc:  # noqa: BLE001 - the shipped templates still work
            log.warning("Ignoring the stored boilerplate templates: %s", exc)
            return BoilerplateMiner()

    @cached_property
    def miner(self) -> BoilerplateMiner:
        """The shipped boilerplate templates plus those learnt from this deployment's successful logs."""
        from airflow_healer.core.logs import default_miner

        miner = default_miner()
        miner.add_templates(self._learnt_boilerplate.templates())
        return miner

    def learn_boilerplate(self, lines: list[str]) -> int:
        """Learn templates from the lines of a successful try's log; returns how many are new."""
        lines = [line for line in lines if not self.miner.matches(line)]  # what is known already adds nothing
        new = self._learnt_boilerplate.learn(lines)
        if new:
            self.miner.learn(lines)
            self.store.put_blob(BOILERPLATE_BLOB, self._learnt_boilerplate.to_bytes(),
                                {"templates": len(self._learnt_boilerplate)})
        return new

    def read_log(self, failure: Failure, log_: object) -> Located:
        """Put what ``log_`` says into ``failure`` (excerpt, located lines, note); see :func:`attach_log`."""
        return attach_log(failure, log_, miner=self.miner)

    def record(self, failure: Failure) -> str | None:
        """Store ``failure`` (or spool it); bounded in time, never raises."""
        return record_failure(failure, self.config, self._store)

    def replay_spool(self) -> int:
        return Spool(self.config.spool_dir).replay(self.store)

    def classify(self, incident: Incident) -> Classification:
        """Classify the incident from its message and the lines its log located, and store the answer.

        A wrapper exception (``Bash command failed ...``) names no cause: then the log's lines are
        what the classifier reads, and the wrapper's class is not offered as a hint.
        """
        from airflow_healer.core.logs import compose, is_wrapper
        from airflow_healer.core.logs.locate import evidence_line

        wrapper = is_wrapper(incident.message)
        # A log with no telling line leaves only its last lines ("tail"): a guess, worth reading only when
        # the message names no cause either (a killed task's message does: the log's chatter must not win).
        located = [line["text"] for line in incident.log_lines if wrapper or line["why"] != "tail"]
        text = compose(incident.message, located)
        wrapper = wrapper and bool(located)
        classification = self.classifier.classify(
            text, exception_type=None if wrapper else incident.exception_type, operator=incident.operator
        )
        used = [evidence_line(line) for line in incident.log_lines if line["text"] in text][-8:]
        if incident.log_note:
            used.append(f"log: {incident.log_note}")
        classification.evidence = used + classification.evidence
        self.store.set_classification(incident.id, classification)
        log.info("Classified %s.%s as %s (%.2f)", incident.dag_id, incident.task_id,
                 classification.error_type, classification.confidence)
        return classification

    def learn(self, incident: Incident, strategy: str, success: bool) -> None:
        """Feed a resolved incident back into the knowledge base, findable by the next classification.

        One entry per error template and type (its fingerprint): a recurring error adds to that
        entry's success or failure count instead of piling up near-duplicates.
        """
        if incident.error_type is None or incident.error_type.value == "unknown":
            return
        from airflow_healer.core.classify.knowledge import KnowledgeEntry
        from airflow_healer.core.logs import compose

        entry = KnowledgeEntry(
            id=f"incident-{incident.fingerprint or incident.id}-{incident.error_type.value}",
            kind="historical_error", title=f"{incident.dag_id}.{incident.task_id}",
            message=compose(incident.message, [line["text"] for line in incident.log_lines]), error_type=incident.error_type.value, strategy=strategy,
            solution=f"The healer's {strategy} strategy, applied in the same DAG run.",
            source=f"incident:{incident.id}", confidence=0.8,
            context=f"operator {incident.operator or '?'}; exception {incident.exception_type or '?'}",
        )
        # Validated like an import before it is stored; the count is read and written in one store
        # transaction, so concurrent healers both count.
        record = KnowledgeEntry.from_record(entry.to_record()).to_record()
        entry = KnowledgeEntry.from_record(self.store.record_knowledge_outcome(record, success))
        # The loaded model learns at once; one not loaded yet (a success callback) reads it from the store.
        add = getattr(self.__dict__.get("classifier"), "add_knowledge", None)
        if add is not None:
            add([entry])
        log.info("Learnt from incident %s: %s %s for %s", incident.id, strategy,
                 "worked" if success else "failed", incident.error_type)

    def decide(self, incident: Incident, classification: Classification, *, force: str | None = None) -> Decision:
        """What to do next: the engine's rules over the classification, the incident's history, the error
        text (a named wait) and the ladders its failed try rendered (rescale)."""
        from airflow_healer.core.logs import compose

        attempts = sum(1 for a in incident.actions if a.outcome is not Outcome.SKIPPED)
        rescales = rescale_steps(incident.actions)
        try:
            tiers = self.store.tiers(incident.dag_id, incident.run_id, incident.task_id, incident.map_index)
        except Exception as exc:  # noqa: BLE001 - without them the healer proposes a ladder
            log.warning("Could not read the ladders of %s.%s: %s", incident.dag_id, incident.task_id, exc)
            tiers = []
        message = compose(incident.message, [line["text"] for line in incident.log_lines])
        config = self.config
        override = mode_override(self.store)
        if override and override["mode"] != config.mode:
            config = config.replace(mode=override["mode"])  # set on the Healer page: observe is the emergency stop
        forced = None
        if force is not None:
            from airflow_healer.core.remediate.registry import get_strategy

            forced = get_strategy(force)
        return decide(classification, attempts, config, message=message, tiers=tiers, rescales_done=rescales,
                      conn_ids=incident.conn_ids, credential_sources=self.credential_sources, force=forced)

    def propose(self, incident: Incident, decision: Decision, error_type: Any = None) -> dict[str, Any]:
        """What exactly a proposal asks a person to do: the role for which principal on which resource, the
        additive schema change, the files to quarantine, the package, the setting (read from the error)."""
        from airflow_healer.core.logs import compose
        from airflow_healer.core.remediate.proposals import propose

        message = compose(incident.message, [line["text"] for line in incident.log_lines])
        content = propose(error_type or incident.error_type or "unknown", message, dag_id=incident.dag_id, task_id=incident.task_id,
                          operator=incident.operator, conn_ids=incident.conn_ids)
        if content.get("kind") == "escalate" and decision.strategy is not None:
            # Nothing concrete in the error (a safe strategy proposed because mode is recommend): say that.
            content.update(kind=decision.strategy.name, summary=decision.reason)
        content.setdefault("reason", decision.reason)
        return content

    def hold(self, incident: Incident, decision: Decision, classification: Classification, *,
             summary: str | None = None, then: str = "") -> str:
        """Settle an incident the healer does not act on now (observe, give up, escalate, propose), with
        no healer task waiting in its run; returns the reason recorded with its status.

        A proposal is recorded as a PROPOSED action and a pending proposal for a person to decide.
        :param summary: what the proposal asks, where this caller knows better than the error's text.
        :param then: appended to the reason, ``{id}`` being the proposal's (what to do once approved).
        """
        status = {Verdict.OBSERVE: IncidentStatus.OPEN, Verdict.GIVE_UP: IncidentStatus.NOT_RECOVERED}.get(
            decision.verdict, IncidentStatus.ESCALATED)
        reason = decision.reason
        if decision.verdict is Verdict.PROPOSE and decision.strategy is not None:
            self.store.add_action(incident.id, Action(decision.strategy.name, decision.attempt, Outcome.PROPOSED,
                                                      decision.reason, risky=decision.strategy.risky))
            content = self.propose(incident, decision, classification.error_type)
            if summary:
                content.update(summary=summary)
            proposal = self.store.add_proposal(incident, decision.strategy.name, content.get("summary") or reason,
                                               self.config.approval_timeout_seconds, content=content)
            reason = f"proposal {proposal['id']}: {proposal['change']}" + then.format(id=proposal["id"])
        self.store.set_status(incident.id, status, reason)
        return reason

    @cached_property
    def credential_sources(self) -> dict[str, str]:
        from airflow_healer.hooks.credentials import parse_sources

        return parse_sources(self.config.credential_sources)


MODE_BLOB = "settings/mode"


def mode_override(store: Store) -> dict[str, Any] | None:
    """The mode set on the Healer page (``mode``, ``by``, ``reason``, ``at``), over ``[healer] mode``; None if unset."""
    import json

    try:
        blob = store.get_blob(MODE_BLOB)
        return json.loads(blob) if blob else None
    except Exception as exc:  # noqa: BLE001 - the configured mode holds
        log.warning("Could not read the mode set on the Healer page: %s", exc)
        return None


def set_mode_override(store: Store, mode: str, user: str, reason: str = "") -> None:
    import json

    from airflow_healer.core.store.base import utcnow

    if mode not in ("observe", "recommend", "act"):
        raise ValueError(f"mode must be observe, recommend or act, not {mode!r}")
    record = {"mode": mode, "by": user, "reason": reason, "at": utcnow()}
    store.put_blob(MODE_BLOB, json.dumps(record).encode(), record)
    log.warning("The healer's mode is now %s, set by %s%s", mode, user, f": {reason}" if reason else "")
