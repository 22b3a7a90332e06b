"""Retrieval-augmented classification: the model's probabilities, boosted by similar known incidents.

The model (TF-IDF features + a calibrated classifier) gives a probability per type. Retrieval finds
the nearest knowledge entries (past incidents, runbooks ...) with a type. Their votes, weighted by
similarity and by how often their resolution worked, form a second distribution; the two are mixed
with a weight that grows with the best similarity, so a near-duplicate of a known incident (the same
error with other ids and numbers) decides, while vague neighbours barely move the model's answer.
Below ``min_confidence`` the answer is ``unknown``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from airflow_healer.core.classify.knowledge import KnowledgeBase, KnowledgeEntry
from airflow_healer.core.classify.retrieval import Hit, VectorIndex
from airflow_healer.core.logs import classifier_text
from airflow_healer.core.remediate.registry import strategy_for
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.exceptions import NoStrategy

log = logging.getLogger(__name__)


class RagClassifier:
    """Classify with a model and a knowledge base.

    :param model: a fitted :class:`~airflow_healer.core.classify.model.ErrorClassifier`.
    :param knowledge: the knowledge base the index covers.
    :param index: a :class:`VectorIndex` over ``knowledge``.
    :param min_confidence: below it the answer is ``unknown``.
    :param k: neighbours retrieved per message.
    :param max_retrieval_weight: the weight of retrieval when the best neighbour is identical.
    :param min_similarity: neighbours below this similarity are ignored.
    """

    name = "rag"

    def __init__(
        self,
        model: Any,
        knowledge: KnowledgeBase,
        index: VectorIndex,
        *,
        min_confidence: float = 0.35,
        k: int = 5,
        max_retrieval_weight: float = 0.8,
        min_similarity: float = 0.35,
    ):
        self.model = model
        self.knowledge = knowledge
        self.index = index
        self.min_confidence = min_confidence
        self.k = k
        self.max_retrieval_weight = max_retrieval_weight
        self.min_similarity = min_similarity
        self._classes = [str(c) for c in model.classes_]
        self._col = {c: i for i, c in enumerate(self._classes)}

    # -- learning ---------------------------------------------------------------------------

    def add_knowledge(self, entries: Iterable[KnowledgeEntry]) -> None:
        """Make ``entries`` findable at once (an incremental index add, no rebuild)."""
        entries = list(entries)
        for entry in entries:
            if entry.id in self.knowledge:
                self.index.remove([entry.id])
        self.knowledge.upsert(entries)
        self.index.add(entries)

    # -- classification ---------------------------------------------------------------------

    def classify(self, text: str, *, exception_type: str | None = None, operator: str | None = None) -> Classification:
        return self.classify_batch([{"text": text, "exception_type": exception_type, "operator": operator}])[0]

    def classify_batch(self, rows: Sequence[dict[str, Any]], *, evidence: bool = True) -> list[Classification]:
        """Classify many messages at once (one sparse product for the model, one for retrieval).

        :param evidence: attach the telling terms (a second pass over each text); off for bulk work.
        """
        if not rows:
            return []
        # A whole task log is read for its telling lines; a bare message as it is.
        texts = [classifier_text(str(r.get("text") or "")) for r in rows]
        meta = [{"exception_type": r.get("exception_type"), "operator": r.get("operator"),
                 "system": r.get("system")} for r in rows]
        proba = self.model.predict_proba(texts, meta if any(any(m.values()) for m in meta) else None)
        # The index normalises queries itself, as it did the entries.
        hits = self.index.search_batch(texts, k=self.k) if len(self.index) else [[] for _ in texts]
        return [self._combine(texts[i], proba[i], hits[i], evidence) for i in range(len(rows))]

    def _neighbours(self, hits: list[Hit]) -> list[tuple[KnowledgeEntry, float]]:
        out = []
        for hit in hits:
            entry = self.knowledge.get(hit.entry_id)
            if entry is not None and entry.error_type in self._col and hit.score >= self.min_similarity:
                out.append((entry, hit.score))
        return out

    def _combine(self, text: str, p_model: np.ndarray, hits: list[Hit], with_terms: bool = True) -> Classification:
        neighbours = self._neighbours(hits)
        p = np.asarray(p_model, dtype=float)
        if neighbours:
            votes = np.zeros(len(self._classes))
            for entry, score in neighbours:
                votes[self._col[entry.error_type]] += score * score * entry.confidence * (0.5 + entry.success_rate)
            if votes.sum() > 0:
                top = max(score for _, score in neighbours)
                alpha = self.max_retrieval_weight * top * top
                p = (1.0 - alpha) * p + alpha * votes / votes.sum()
        i = int(np.argmax(p))
        label, confidence = self._classes[i], float(p[i])
        error_type = ErrorType(label) if confidence >= self.min_confidence else ErrorType.UNKNOWN
        evidence = self._evidence(text, label, neighbours, with_terms)
        strategy, record = self._strategy(label, neighbours)
        if error_type is ErrorType.UNKNOWN:
            strategy = "escalate"
        elif record:
            evidence.append(record)
        return Classification(
            error_type=error_type,
            confidence=confidence,
            classifier=self.name,
            evidence=evidence,
            strategy=strategy,
            similar=[{"id": e.id, "score": round(s, 4), "error_type": e.error_type, "kind": e.kind,
                      "title": e.title, "strategy": e.strategy or None} for e, s in neighbours],
        )

    def _evidence(self, text: str, label: str, neighbours: list[tuple[KnowledgeEntry, float]],
                  with_terms: bool) -> list[str]:
        terms: list[str] = []
        if with_terms:
            try:
                terms = [t for t, _ in self.model.explain(text, top=5, label=label)]
            except Exception:  # noqa: BLE001 - evidence is a courtesy, never a reason to fail
                pass
        out = [f"term: {t}" for t in terms]
        out += [f"similar {e.kind} {e.id} ({s:.2f}): {e.title or e.message[:80]}" for e, s in neighbours[:3]]
        return out

    @staticmethod
    def _strategy(label: str, neighbours: list[tuple[KnowledgeEntry, float]]) -> tuple[str, str]:
        """The strategy that worked best on similar incidents of this type, and its record."""
        score: dict[str, float] = defaultdict(float)
        record: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for entry, similarity in neighbours:
            if entry.error_type == label and entry.strategy:
                score[entry.strategy] += similarity * entry.success_rate
                record[entry.strategy][0] += entry.success_count
                record[entry.strategy][1] += entry.success_count + entry.failure_count
        if score:
            best = max(score, key=score.__getitem__)
            worked, tried = record[best]
            note = f"strategy {best} worked {worked} of {tried} times on similar incidents" if tried else ""
            return best, note
        try:
            return strategy_for(ErrorType(label)).name, ""
        except NoStrategy:
            return "escalate", ""
