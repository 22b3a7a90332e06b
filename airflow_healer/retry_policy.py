"""A retry policy (Airflow 3.3+, AIP-105) that classifies the failure with the healer's local model.

::

    from airflow_healer.retry_policy import HealerRetryPolicy

    @task(retries=4, retry_delay=timedelta(minutes=1), retry_policy=HealerRetryPolicy())
    def load_orders(): ...

The task runner calls :meth:`HealerRetryPolicy.evaluate` in the worker, with the exception, after a
try fails. The exception (and its chain) is classified by the shipped or active model, in the
worker's process (nothing leaves the machine); the error type's rule decides: retry with a delay
that suits the type, fail at once, or leave it to the task's own ``retries`` and ``retry_delay``.
When the policy is unsure, or anything inside it goes wrong, it answers ``RetryAction.DEFAULT``:
the task fails or retries exactly as it would without the policy.

Importing this module loads no scikit-learn, pandas, scipy or google.cloud: the model loads on the
first failure a process sees, once.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

try:
    from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy
except ImportError:  # pragma: no cover - depends on the installed Airflow
    raise ImportError(
        "HealerRetryPolicy needs Airflow 3.3 or later (task retry policies, AIP-105). On older versions "
        "use self_healing(dag) or on_failure_callback from airflow_healer."
    ) from None

from airflow_healer.core.types import ErrorType

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_healer.core.classify import Classifier
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.types import Classification

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RULES", "ErrorTypeRule", "HealerRetryPolicy", "exception_text", "named_delay", "shared_classifier"]

# Airflow keeps 500 characters of a retry reason (TaskInstance.retry_reason).
MAX_REASON_CHARS = 500
MAX_CHAIN = 5


@dataclass(frozen=True)
class ErrorTypeRule:
    """What :class:`HealerRetryPolicy` does with one error type.

    The delay of retry ``n`` (the try that failed is ``n``) is ``delay * backoff ** (n - 1)``, capped at
    ``max_delay``, then moved by up to ``jitter`` of itself either way (so that tasks failing together
    do not come back together). A delay the error message names (``Retry-After: 17``, "retry in 30
    seconds") wins over that when ``honour_named_delay`` is set, capped at ``max_delay`` too.

    :param action: ``RetryAction.RETRY``, ``RetryAction.FAIL`` (no more tries) or
        ``RetryAction.DEFAULT`` (the task's own retries and delay).
    :param delay: first retry delay; ``None`` keeps the task's ``retry_delay`` (RETRY only).
    :param backoff: multiplier per try, 1 or more (1: a fixed delay).
    :param max_delay: cap of the delay, the named one included; ``None``: no cap.
    :param jitter: fraction of the delay added or taken at random, from 0 to 1.
    :param honour_named_delay: use a delay the message names (``Retry-After``, "retry in N s").
    :param min_confidence: a bar for this type above the policy's ``min_confidence`` (a wrong FAIL
        costs a run, so it may ask for more certainty); ``None`` uses the policy's.
    :param reason: why, in a few words; it goes into the decision's reason.
    """

    action: RetryAction = RetryAction.DEFAULT
    delay: timedelta | None = None
    backoff: float = 2.0
    max_delay: timedelta | None = None
    jitter: float = 0.0
    honour_named_delay: bool = True
    min_confidence: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.action, RetryAction):
            raise TypeError(f"ErrorTypeRule.action must be a RetryAction, got {self.action!r}.")
        for name in ("delay", "max_delay"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, timedelta) or value < timedelta(0)):
                raise ValueError(f"ErrorTypeRule.{name} must be a timedelta of 0 or more (or None), got {value!r}; "
                                 "write timedelta(seconds=60), not 60.")
            if value is not None and self.action is not RetryAction.RETRY:
                raise ValueError(f"ErrorTypeRule.{name} is set but the action is {self.action.value}: "
                                 "only a retry has a delay.")
        if not self.backoff >= 1.0:
            raise ValueError(f"ErrorTypeRule.backoff must be 1 or more, got {self.backoff!r}.")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"ErrorTypeRule.jitter must be from 0 to below 1, got {self.jitter!r}.")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"ErrorTypeRule.min_confidence must be between 0 and 1, got {self.min_confidence!r}.")

    @classmethod
    def retry(cls, delay: timedelta | None = None, **kwargs: Any) -> ErrorTypeRule:
        return cls(action=RetryAction.RETRY, delay=delay, **kwargs)

    @classmethod
    def fail(cls, reason: str = "", **kwargs: Any) -> ErrorTypeRule:
        return cls(action=RetryAction.FAIL, reason=reason, **kwargs)

    @classmethod
    def defer(cls, reason: str = "") -> ErrorTypeRule:
        return cls(action=RetryAction.DEFAULT, reason=reason)

    def retry_delay(self, try_number: int, named: float | None = None) -> tuple[timedelta | None, str]:
        """The delay before the next try, and how it was chosen (for the reason)."""
        cap = self.max_delay.total_seconds() if self.max_delay is not None else math.inf
        if named is not None and self.honour_named_delay:
            seconds = max(1.0, named)
            if seconds > cap:
                return timedelta(seconds=cap), f"the error asked for {named:g} s, capped at {cap:g} s"
            return timedelta(seconds=seconds), f"the error asked for {named:g} s"
        if self.delay is None:
            return None, "the task's retry_delay"
        try:
            seconds = min(cap, self.delay.total_seconds() * self.backoff ** max(0, try_number - 1))
        except OverflowError:
            seconds = cap
        if math.isinf(seconds):
            seconds = self.delay.total_seconds()
        if self.jitter:
            seconds = min(cap, seconds * random.uniform(1.0 - self.jitter, 1.0 + self.jitter))
        return timedelta(seconds=round(seconds, 1)), f"backoff from {self.delay.total_seconds():g} s, try {try_number}"

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action.value, "backoff": self.backoff, "jitter": self.jitter,
                                "honour_named_delay": self.honour_named_delay, "reason": self.reason}
        for name in ("delay", "max_delay"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name).total_seconds()
        if self.min_confidence is not None:
            data["min_confidence"] = self.min_confidence
        return data

    @classmethod
    def deserialize(cls, data: Mapping[str, Any]) -> ErrorTypeRule:
        seconds = {name: timedelta(seconds=data[name]) for name in ("delay", "max_delay") if data.get(name) is not None}
        return cls(action=RetryAction(data.get("action", "default")), backoff=data.get("backoff", 2.0),
                   jitter=data.get("jitter", 0.0), honour_named_delay=data.get("honour_named_delay", True),
                   min_confidence=data.get("min_confidence"), reason=data.get("reason", ""), **seconds)


_SAME_MACHINE = "a retry on the same machine does not help"

DEFAULT_RULES: Mapping[str, ErrorTypeRule] = {
    ErrorType.NETWORK_TIMEOUT.value: ErrorTypeRule.retry(
        timedelta(seconds=10), max_delay=timedelta(minutes=10), jitter=0.25, reason="transient network failure"),
    ErrorType.RATE_LIMITING.value: ErrorTypeRule.retry(
        timedelta(seconds=60), max_delay=timedelta(hours=1), jitter=0.25, reason="rate limited"),
    ErrorType.TIMEOUT_EXCEEDED.value: ErrorTypeRule.retry(
        timedelta(minutes=2), max_delay=timedelta(minutes=30), jitter=0.2,
        reason="ran past its time limit; a later try may find the system less loaded"),
    ErrorType.RESOURCE_EXHAUSTION.value: ErrorTypeRule.retry(
        timedelta(minutes=10), max_delay=timedelta(hours=1), jitter=0.2, reason="quotas and capacity recover"),
    ErrorType.AUTHENTICATION_FAILURE.value: ErrorTypeRule.fail(
        "credentials do not fix themselves between tries; rotate them, then clear the task"),
    ErrorType.PERMISSION_DENIED.value: ErrorTypeRule.fail("permanent until someone grants the access"),
    ErrorType.SCHEMA_MISMATCH.value: ErrorTypeRule.fail("permanent until the schema or the code changes"),
    ErrorType.DATA_CORRUPTION.value: ErrorTypeRule.fail("the same data fails the same way"),
    ErrorType.MISSING_DEPENDENCY.value: ErrorTypeRule.fail("permanent until the dependency is installed or created"),
    ErrorType.CONFIGURATION_ERROR.value: ErrorTypeRule.fail("permanent until the configuration is fixed"),
    ErrorType.DISK_SPACE_FULL.value: ErrorTypeRule.fail(
        f"{_SAME_MACHINE}: the disk is still full; free space or move the task, then clear it"),
    ErrorType.MEMORY_LEAK.value: ErrorTypeRule.fail(
        f"{_SAME_MACHINE}: it runs out of memory again; give it more memory or fix the leak, then clear it"),
    ErrorType.UNKNOWN.value: ErrorTypeRule.defer("the healer does not know this error"),
}
"""The rules :class:`HealerRetryPolicy` starts from, by error type. A policy's ``rules`` replace
the entries they name; an error type missing from both is left to the task's own retries."""


# -- what is classified -----------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the decision
        message = "<unprintable>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _chain(exception: BaseException) -> list[BaseException]:
    """The exception, then its causes (``raise ... from``) or the contexts it was raised in."""
    chain, seen, exc = [], set(), exception
    while exc is not None and id(exc) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
    return chain


def exception_text(exception: BaseException, limit: int = 4000) -> str:
    """``Type: message`` of the exception and of each exception in its chain, ``limit`` characters at most.

    Each part gets an equal share of ``limit`` first, so a huge outer message cannot push out the
    cause that names the problem.
    """
    parts = [_describe(exc) for exc in _chain(exception)]
    share = max(200, limit // len(parts))
    return "\n".join(part[:share] for part in parts)[:limit]


_UNITS = {"ms": 0.001, "millisecond": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
          "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_NUMBER = r"(\d+(?:\.\d+)?)"
_UNIT = r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)?\b"
_NAMED_DELAY = [
    # the header, as text or in a dict's repr: Retry-After: 17, 'Retry-After': '17', retry-after=17
    re.compile(r"retry-after['\"]?\s*[:=]\s*['\"]?" + _NUMBER + r"\s*" + _UNIT, re.I),
    # Google's RetryInfo: retryDelay: "34s", retry_delay { seconds: 34 }
    re.compile(r"retry_?delay['\"]?\s*[:=]?\s*\{?\s*(?:seconds\s*:\s*)?['\"]?" + _NUMBER + r"\s*" + _UNIT, re.I),
    # retry in 30 seconds, retry after 5 s, please try again in 20s, retrying in 2 minutes
    re.compile(r"(?:retry|retrying|try again)\s+(?:in|after)\s+" + _NUMBER + r"\s*" + _UNIT, re.I),
]


def named_delay(text: str) -> float | None:
    """The delay in seconds an error message asks for (the largest when it names several), or None.

    An HTTP-date ``Retry-After`` is not read (messages hardly ever carry one).
    """
    found = []
    for pattern in _NAMED_DELAY:
        for number, unit in pattern.findall(text):
            unit = (unit or "s").lower()
            unit = unit if unit in _UNITS else unit.rstrip("s")
            found.append(float(number) * _UNITS.get(unit, 1.0))
    return max(found) if found else None


# -- one classifier and one config per process ------------------------------------------------

_lock = threading.Lock()
_configs: dict[tuple[tuple[str, str], ...], HealerConfig] = {}
_classifiers: dict[tuple[str, str, float], Classifier] = {}


def _config() -> HealerConfig:
    """``HealerConfig.load()``, read once per process environment (airflow.cfg costs ~8 ms a read)."""
    from airflow_healer.core.config import HealerConfig

    key = tuple(sorted((k, v) for k, v in os.environ.items()
                       if k in ("AIRFLOW_HOME", "AIRFLOW_CONFIG") or k.startswith("AIRFLOW__HEALER__")))
    with _lock:
        if key not in _configs:
            _configs[key] = HealerConfig.load()
        return _configs[key]


def shared_classifier(config: HealerConfig) -> Classifier:
    """The process's classifier for ``config``: the store's active model when the store opens, else the shipped one."""
    key = (config.model_path, config.store_url, config.min_confidence)
    with _lock:
        if key not in _classifiers:
            from airflow_healer.core.classify import get_classifier

            try:
                from airflow_healer.core.store import open_store

                store = open_store(config.store_url, timeout=config.callback_timeout_seconds)
            except Exception as exc:  # noqa: BLE001 - without the store the shipped model still decides
                log.warning("HealerRetryPolicy classifies without the store (%s): %s", config.store_url, exc)
                store = None
            _classifiers[key] = get_classifier(config, store)
        return _classifiers[key]


def _memory_error(exception: BaseException) -> bool:
    return any(isinstance(exc, MemoryError) for exc in _chain(exception))


# -- the policy -------------------------------------------------------------------------------


class HealerRetryPolicy(RetryPolicy):
    """Retry what a retry can fix, fail fast on what it cannot, and leave the rest to the task's retries.

    Pass it as a task's ``retry_policy`` (Airflow 3.3+). On a failed try it classifies
    ``Type: message`` of the exception and its chain with the healer's local model (the store's active
    model, else the shipped one; a few milliseconds once loaded, one to three seconds to load on a
    process's first failure) and applies the error type's :class:`ErrorTypeRule` (:data:`DEFAULT_RULES`):
    network timeouts, rate limits, time limits and exhausted quotas are retried with delays of their
    own (a ``Retry-After`` the message names is honoured); authentication, permission, schema, data,
    dependency and configuration errors, a full disk and memory running out fail at once. ``unknown``
    and answers below ``min_confidence`` fall back to the task's own retries, and so does any error
    inside the policy: it never makes a task fail in a way it would not without it.

    A retry stays within the task's ``retries`` (Airflow's rule: a policy can end a task early, never
    extend it); when no retry is left the policy answers DEFAULT without classifying. Each decision
    carries its reason (type, confidence, delay, why and the model's telling terms; never the
    message itself): Airflow logs it in the task log, and keeps a retry's reason as the task
    instance's ``retry_reason``.

    :param rules: error type (an :class:`~airflow_healer.core.types.ErrorType` or its value) to
        :class:`ErrorTypeRule`; replaces the default rule of each type it names.
    :param min_confidence: the classifier's confidence needed to act on its answer; ``None`` (default)
        uses ``[healer] min_confidence``, read in the worker.
    :param max_text_chars: how much of the exception chain is classified.
    :param classifier: an object with ``classify(text, *, exception_type, operator)`` returning a
        :class:`~airflow_healer.core.types.Classification`, used instead of the process's shared one
        (tests, a custom model). Not serialized.
    """

    def __init__(
        self,
        *,
        rules: Mapping[str | ErrorType, ErrorTypeRule] | None = None,
        min_confidence: float | None = None,
        max_text_chars: int = 4000,
        classifier: Classifier | None = None,
    ) -> None:
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be between 0 and 1, got {min_confidence!r}.")
        if max_text_chars < 200:
            raise ValueError(f"max_text_chars must be 200 or more, got {max_text_chars!r}.")
        self.rules = self._check_rules(rules or {})
        self.min_confidence = min_confidence
        self.max_text_chars = max_text_chars
        self.classifier = classifier

    @staticmethod
    def _check_rules(rules: Mapping[str | ErrorType, ErrorTypeRule]) -> dict[str, ErrorTypeRule]:
        if not isinstance(rules, Mapping):
            raise TypeError(f"rules must be a mapping of error type to ErrorTypeRule, got {type(rules).__name__}.")
        known = {t.value for t in ErrorType}
        checked = {}
        for key, rule in rules.items():
            name = key.value if isinstance(key, ErrorType) else str(key)
            if name not in known:
                raise ValueError(f"rules: {key!r} is not an error type; use one of {', '.join(sorted(known))}.")
            if not isinstance(rule, ErrorTypeRule):
                raise TypeError(f"rules[{name!r}] must be an ErrorTypeRule, got {type(rule).__name__}.")
            checked[name] = rule
        return checked  # a plain dict: operator copies deep-copy the policy

    def rule_for(self, error_type: ErrorType | str) -> ErrorTypeRule:
        name = error_type.value if isinstance(error_type, ErrorType) else error_type
        return self.rules.get(name) or DEFAULT_RULES.get(name) or ErrorTypeRule.defer("no rule for this type")

    # -- deciding -------------------------------------------------------------------------------

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        try:
            return self._decide(exception, try_number, max_tries, context)
        except Exception as exc:  # noqa: BLE001 - the policy must never change how a task fails
            log.exception("HealerRetryPolicy could not decide; the task's own retries apply")
            return RetryDecision(action=RetryAction.DEFAULT,
                                 reason=f"healer: could not decide ({type(exc).__name__}); task retry settings apply")

    def _decide(self, exception: BaseException, try_number: int, max_tries: int,
                context: Context | None) -> RetryDecision:
        # The API server's own rule (_is_eligible_to_retry); past it a RETRY would be a DEFAULT anyway,
        # and a task without retries should not pay for loading the model.
        if max_tries <= 0 or try_number > max_tries:
            reason = f"healer: no retry left (try {try_number}, max_tries {max_tries}); not classified"
            log.info("%s", reason)
            return RetryDecision(action=RetryAction.DEFAULT, reason=reason)

        from airflow_healer.core.logs import is_wrapper

        text = exception_text(exception, self.max_text_chars)
        config = None
        bar = self.min_confidence
        if bar is None:
            config = _config()
            bar = config.min_confidence
        exception_type = None if is_wrapper(_message(exception)) else type(exception).__name__
        classification = self._classifier(exception, config, bar).classify(
            text, exception_type=exception_type, operator=_operator(context))

        error_type = classification.error_type
        confidence = float(classification.confidence)
        rule = self.rule_for(error_type)
        needed = max(bar, rule.min_confidence or 0.0)
        label = f"{error_type.value} ({confidence:.2f})"
        if error_type is ErrorType.UNKNOWN or confidence < needed:
            decision = RetryDecision(action=RetryAction.DEFAULT, reason=(
                f"healer: unsure, {label} is below min_confidence {needed:.2f}; task retry settings apply"))
        elif rule.action is RetryAction.FAIL:
            decision = RetryDecision.fail(reason=f"healer: {label}, fail fast: {rule.reason or 'not retryable'}")
        elif rule.action is RetryAction.RETRY:
            delay, how = rule.retry_delay(try_number, named_delay(text))
            when = f"in {delay.total_seconds():g} s" if delay is not None else "after the task's retry_delay"
            why = f"{rule.reason}; " if rule.reason else ""
            decision = RetryDecision.retry(delay=delay, reason=f"healer: {label}, retry {when} ({why}{how})")
        else:
            decision = RetryDecision(action=RetryAction.DEFAULT, reason=(
                f"healer: {label}, {rule.reason or 'left to the task'}; task retry settings apply"))
        reason = decision.reason or ""
        if decision.action is not RetryAction.DEFAULT:
            reason = _with_terms(reason, classification)
        decision = RetryDecision(action=decision.action, retry_delay=decision.retry_delay,
                                 reason=reason[:MAX_REASON_CHARS])
        log.info("HealerRetryPolicy: %s %.2f -> %s, delay %s (try %d of max_tries %d): %s", error_type.value,
                 confidence, decision.action.value,
                 f"{decision.retry_delay.total_seconds():g} s" if decision.retry_delay is not None else "task default",
                 try_number, max_tries, decision.reason)
        return decision

    def _classifier(self, exception: BaseException, config: HealerConfig | None, bar: float) -> Classifier:
        if self.classifier is not None:
            return self.classifier
        if _memory_error(exception):
            # Loading scikit-learn and the model in a process that just ran out of memory could get it
            # OOM-killed, which fails the task differently: the rules know MemoryError.
            from airflow_healer.core.classify.rules import RuleClassifier

            return RuleClassifier()
        config = config or _config()
        return shared_classifier(config.replace(min_confidence=bar) if config.min_confidence != bar else config)

    # -- copies and serialization ---------------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, Any]) -> HealerRetryPolicy:
        # Operators are deep-copied (task groups, partial subsets): an injected classifier is a
        # service shared by the copies, not state to duplicate (a model is megabytes).
        return type(self)(rules=dict(self.rules), min_confidence=self.min_confidence,
                          max_text_chars=self.max_text_chars, classifier=self.classifier)

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": f"{type(self).__module__}.{type(self).__qualname__}",
            "rules": {name: rule.serialize() for name, rule in self.rules.items()},
            "min_confidence": self.min_confidence,
            "max_text_chars": self.max_text_chars,
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> HealerRetryPolicy:
        return cls(rules={name: ErrorTypeRule.deserialize(rule) for name, rule in (data.get("rules") or {}).items()},
                   min_confidence=data.get("min_confidence"), max_text_chars=data.get("max_text_chars", 4000))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(rules={sorted(self.rules)}, min_confidence={self.min_confidence}, "
                f"classifier={'shared' if self.classifier is None else type(self.classifier).__name__})")


def _message(exception: BaseException) -> str:
    try:
        return str(exception)
    except Exception:  # noqa: BLE001
        return ""


def _operator(context: Context | None) -> str | None:
    try:
        name = getattr(context.get("task"), "task_type", None) if context else None
    except Exception:  # noqa: BLE001 - the operator is a hint, not a reason to defer
        return None
    return name if isinstance(name, str) else None


def _with_terms(reason: str, classification: Classification) -> str:
    """The reason with the classifier's telling terms (never the message: it may hold secrets)."""
    terms = [e[len("term: "):] for e in classification.evidence if isinstance(e, str) and e.startswith("term: ")]
    return f"{reason}; terms: {', '.join(terms[:3])}" if terms else reason
