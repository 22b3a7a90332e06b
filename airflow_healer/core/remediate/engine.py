"""Decide what to do about an incident: plain rules over the classification, the mode and history."""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.remediate.registry import STRATEGIES, Strategy, strategy_for
from airflow_healer.core.types import Classification, ErrorType, Outcome
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
    detail: str = ""  # what the action changes (a rescale's rungs)


def rescale_steps(actions: Iterable[Any]) -> int:
    """Rescale steps taken for an incident: its rescale actions that ran (pending, succeeded or failed).

    ``healer.tier`` renders the rung this many steps up; the engine climbs from it."""
    return sum(1 for a in actions if a.strategy == "rescale"
               and a.outcome in (Outcome.PENDING, Outcome.SUCCESS, Outcome.FAILED))


def backoff(attempt: int, config: HealerConfig) -> float:
    """Seconds to wait before attempt ``attempt`` (1-based): base, 2x base, 4x base ... capped."""
    return min(config.retry_backoff_seconds * 2 ** max(attempt - 1, 0), config.retry_backoff_max_seconds)


_RETRY_AFTER = re.compile(
    r"(?i)retry[-_ ]after[\"':= ]{1,4}(?P<n>\d{1,5}(?:\.\d+)?)\s*(?P<unit>ms|milliseconds?|s|sec|seconds?|m|min|minutes?)?|"
    r"(?:retry|try again|wait)(?: (?:again|the request))? (?:in|after) (?P<n2>\d{1,5}(?:\.\d+)?)\s*"
    r"(?P<unit2>ms|milliseconds?|s|sec|seconds?|m|min|minutes?)\b"
)
_PER_MINUTE = re.compile(r"(?i)per[ _-]?minute|per min\b|/min\b|\bminutely\b")


def named_wait(message: str) -> float | None:
    """The wait a rate-limit error names: ``Retry-After: 17``, "retry in 30 s", "try again after 2 minutes",
    or the end of a per-minute quota window (60 s). None when it names none."""
    m = _RETRY_AFTER.search(message or "")
    if m:
        number = float(m.group("n") or m.group("n2"))
        unit = (m.group("unit") or m.group("unit2") or "s").lower()
        if unit == "ms" or unit.startswith("milli"):
            return number / 1000
        return number * 60 if unit.startswith("m") else number
    if _PER_MINUTE.search(message or ""):
        return 60.0
    return None


def retry_delay(error_type: ErrorType, attempt: int, config: HealerConfig, message: str = "",
                rng: random.Random | None = None) -> float:
    """How long to wait before retry ``attempt``.

    Network and timeout errors: exponential backoff with "equal jitter" (half fixed, half random),
    so that many tasks failing together do not retry together. Rate limits: what the error names,
    else four times the backoff (quotas recover slower than connections).
    """
    if error_type is ErrorType.RATE_LIMITING:
        wait = named_wait(message)
        if wait is not None:
            return min(wait, config.retry_backoff_max_seconds)
        return min(4 * backoff(attempt, config), config.retry_backoff_max_seconds)
    base = backoff(attempt, config)
    return base / 2 + (rng or random).uniform(0, base / 2)


def decide(
    classification: Classification,
    attempts_done: int,
    config: HealerConfig,
    strategies: tuple[Strategy, ...] = STRATEGIES,
    *,
    message: str = "",
    tiers: list[dict[str, Any]] | None = None,
    rescales_done: int = 0,
    conn_ids: list[str] | None = None,
    credential_sources: dict[str, str] | None = None,
    force: Strategy | None = None,
) -> Decision:
    """What to do next about an incident classified as ``classification``.

    :param attempts_done: how many times a strategy was already run for this incident.
    :param message: the error text (a rate limit's named wait is read from it).
    :param tiers: what ``healer.tier(...)`` rendered for the failed try (name, ladder, rung); the
        rescale strategy needs one.
    :param rescales_done: rescale steps already taken for this task instance in this run.
    :param conn_ids: the connections the failed task uses.
    :param credential_sources: ``[healer] credential_sources``, parsed.
    :param force: a strategy a person chose (``healer_remediate``): used whatever the classification,
        with its guardrails (attempts, the ladder and its ceiling, credential sources) still applied.
    """
    label = classification.error_type.value
    if config.mode == "observe":
        return Decision(Verdict.OBSERVE, f"classified {label}; mode is observe, so the healer only records")
    if force is None and (classification.error_type is ErrorType.UNKNOWN
                          or classification.confidence < config.min_confidence):
        return Decision(
            Verdict.ESCALATE,
            f"classification {label} at confidence {classification.confidence:.2f} is below "
            f"min_confidence {config.min_confidence:.2f}: a person should look",
        )
    try:
        strategy = force or strategy_for(classification.error_type, strategies)
    except NoStrategy as exc:
        return Decision(Verdict.ESCALATE, str(exc))
    attempt = attempts_done + 1
    if strategy.risky or (config.mode == "recommend" and force is None):
        why = "it is risky" if strategy.risky else "mode is recommend"
        return Decision(Verdict.PROPOSE, f"{label}: proposing {strategy.name} because {why}", strategy, attempt)
    if attempts_done >= config.max_attempts:
        return Decision(
            Verdict.GIVE_UP,
            f"{label}: still failing after {attempts_done} {strategy.name} attempt(s) (max_attempts={config.max_attempts})",
            strategy,
            attempt,
        )
    if "ladder" in strategy.needs:
        return _rescale(classification.error_type, strategy, attempt, tiers or [], rescales_done)
    if "credential_source" in strategy.needs:
        sources = credential_sources or {}
        refreshable = [c for c in (conn_ids or []) if c in sources]
        if not refreshable:
            used = ", ".join(conn_ids or []) or "none the healer could see"
            return Decision(Verdict.ESCALATE, (
                f"{label}: nothing to refresh: no [healer] credential_sources entry for the task's connections "
                f"({used}); with Application Default Credentials or a key only a person can rotate, a person "
                "should look"), strategy, attempt)
        detail = "refresh " + ", ".join(f"{c} from {sources[c].split('?')[0]}" for c in refreshable)
        return Decision(Verdict.ACT, f"{label}: {detail}", strategy, attempt, 0.0, detail=detail)
    delay = retry_delay(classification.error_type, attempt, config, message)
    return Decision(Verdict.ACT, f"{label}: {strategy.name} attempt {attempt}", strategy, attempt, delay)


def _rescale(error_type: ErrorType, strategy: Strategy, attempt: int, tiers: list[dict[str, Any]],
             rescales_done: int) -> Decision:
    label = error_type.value
    if not tiers:
        return Decision(Verdict.PROPOSE, (
            f"{label}: the task declares no ladder to climb. Put one where the value is used, in any templated "
            "field: op_kwargs={'memory_mb': \"{{ healer.tier('memory_mb', [512, 1024, 2048]) }}\"}, or the "
            "memory/CPU/ephemeral-storage of container_resources, a Dataflow or BigQuery configuration; the "
            "healer then climbs one rung a retry"), strategy, attempt)
    if error_type is ErrorType.MEMORY_LEAK and rescales_done >= 1:
        return Decision(Verdict.ESCALATE, (
            f"{label}: climbed one rung already and it still runs out of memory; a leak grows with any limit, "
            "so a person should look"), strategy, attempt)
    climbable = [t for t in tiers if int(t["rung"]) + 1 < len(t["ladder"])]
    if not climbable:
        tops = ", ".join(f"{t['name']}={t['ladder'][-1]}" for t in tiers)
        return Decision(Verdict.GIVE_UP, f"{label}: the ladder's ceiling is reached ({tops}); a person should "
                        "raise it or fix the task", strategy, attempt)
    steps = ", ".join(f"{t['name']} {t['ladder'][int(t['rung'])]} -> {t['ladder'][int(t['rung']) + 1]}"
                      for t in climbable)
    flag = "; memory_leak: flagged for a person (a leak grows with any limit)" if (
        error_type is ErrorType.MEMORY_LEAK) else ""
    return Decision(Verdict.ACT, f"{label}: rescale {steps}{flag}", strategy, attempt, 0.0, detail=steps)
