"""The Healer: one object that records, classifies and decides, over an injected store."""

from __future__ import annotations

import logging
from functools import cached_property

from airflow_healer.core.capture import Spool, record_failure
from airflow_healer.core.classify import Classifier, get_classifier
from airflow_healer.core.config import HealerConfig
from airflow_healer.core.remediate.engine import Decision, decide
from airflow_healer.core.store import Store, open_store
from airflow_healer.core.types import Classification, Failure, Incident, Outcome

log = logging.getLogger(__name__)


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

    def record(self, failure: Failure) -> str | None:
        """Store ``failure`` (or spool it); bounded in time, never raises."""
        return record_failure(failure, self.config, self._store)

    def replay_spool(self) -> int:
        return Spool(self.config.spool_dir).replay(self.store)

    def classify(self, incident: Incident) -> Classification:
        classification = self.classifier.classify(
            incident.message, exception_type=incident.exception_type, operator=incident.operator
        )
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

        entry = KnowledgeEntry(
            id=f"incident-{incident.fingerprint or incident.id}-{incident.error_type.value}",
            kind="historical_error", title=f"{incident.dag_id}.{incident.task_id}",
            message=incident.message, error_type=incident.error_type.value, strategy=strategy,
            solution=f"The healer's {strategy} strategy, applied in the same DAG run.",
            source=f"incident:{incident.id}", confidence=0.8,
            context=f"operator {incident.operator or '?'}; exception {incident.exception_type or '?'}",
        )
        # Validated like an import before it is stored; the count is read and written in one store
        # transaction, so concurrent healers both count.
        record = KnowledgeEntry.from_record(entry.to_record()).to_record()
        entry = KnowledgeEntry.from_record(self.store.record_knowledge_outcome(record, success))
        add = getattr(self.classifier, "add_knowledge", None)
        if add is not None:
            add([entry])
        log.info("Learnt from incident %s: %s %s for %s", incident.id, strategy,
                 "worked" if success else "failed", incident.error_type)

    def decide(self, incident: Incident, classification: Classification) -> Decision:
        attempts = sum(1 for a in incident.actions if a.outcome is not Outcome.SKIPPED)
        return decide(classification, attempts, self.config)
