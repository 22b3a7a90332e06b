"""Decide what to do about an incident: plain rules over the classification, the mode and history."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.remediate.registry import STRATEGIES, Strategy, strategy_for
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.exceptions import NoStrategy


class Verdict(str, enum.Enum):
    ACT = "act"  # run the strategy now (after ``delay``)
    PROPOSE = "propose"  # record a proposal for a person
    ESCALATE = "escalate"  # nothing safe to do: a person looks
    GIVE_UP = "give_up"  # the strategy was tried ``max_attempts`` times
    OBSERVE = "observe"  # mode is observe: record only

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    strategy: Strategy | None = None
    attempt: int = 0  # the number this attempt would have (1 for the first)
    delay: float = 0.0


def backoff(attempt: int, config: HealerConfig) -> float:
    """Seconds to wait before attempt ``attempt`` (1-based): base, 2x base, 4x base ... capped."""
    return min(config.retry_backoff_seconds * 2 ** max(attempt - 1, 0), config.retry_backoff_max_seconds)


def decide(
    classification: Classification,
    attempts_done: int,
    config: HealerConfig,
    strategies: tuple[Strategy, ...] = STRATEGIES,
) -> Decision:
    """What to do next about an incident classified as ``classification``.

    :param attempts_done: how many times a strategy was already run for this incident.
    """
    label = classification.error_type.value
    if config.mode == "observe":
        return Decision(Verdict.OBSERVE, f"classified {label}; mode is observe, so the healer only records")
    if classification.error_type is ErrorType.UNKNOWN or classification.confidence < config.min_confidence:
        return Decision(
            Verdict.ESCALATE,
            f"classification {label} at confidence {classification.confidence:.2f} is below "
            f"min_confidence {config.min_confidence:.2f}: a person should look",
        )
    try:
        strategy = strategy_for(classification.error_type, strategies)
    except NoStrategy as exc:
        return Decision(Verdict.ESCALATE, str(exc))
    attempt = attempts_done + 1
    if strategy.risky or config.mode == "recommend":
        why = "it is risky" if strategy.risky else "mode is recommend"
        return Decision(Verdict.PROPOSE, f"{label}: proposing {strategy.name} because {why}", strategy, attempt)
    if attempts_done >= config.max_attempts:
        return Decision(
            Verdict.GIVE_UP,
            f"{label}: still failing after {attempts_done} {strategy.name} attempt(s) (max_attempts={config.max_attempts})",
            strategy,
            attempt,
        )
    return Decision(Verdict.ACT, f"{label}: {strategy.name} attempt {attempt}", strategy, attempt, backoff(attempt, config))
