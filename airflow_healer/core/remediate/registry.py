"""The strategy table: which remediation handles which error type.

Ordered like a lookup table: the first strategy that claims an error type wins. Risky strategies
(IAM, schema, data, dependency changes) never run on their own; the engine turns them into
proposals that a person approves.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_healer.core.types import ErrorType as E
from airflow_healer.exceptions import NoStrategy


@dataclass(frozen=True)
class Strategy:
    """One way of healing.

    :param name: the id stored with actions and shown to people.
    :param handles: the error types it claims.
    :param risky: True when a person must approve it.
    :param description: one line for the UI and the CLI.
    :param executable: False while only the proposal exists (the action is done by a person).
    :param needs: what the failed task must offer for the strategy to act (``ladder``: a
        ``healer.tier(...)`` value in one of its templated fields); without it the healer proposes.
    """

    name: str
    handles: frozenset[E]
    risky: bool
    description: str
    executable: bool = True
    needs: tuple[str, ...] = ()


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("retry", frozenset({E.NETWORK_TIMEOUT, E.TIMEOUT_EXCEEDED, E.RATE_LIMITING}), False,
             "Clear the failed task in the same DAG run after an exponential backoff with jitter; for rate "
             "limits, after the wait the error names (Retry-After) or a longer backoff."),
    Strategy("rescale", frozenset({E.RESOURCE_EXHAUSTION, E.MEMORY_LEAK, E.DISK_SPACE_FULL}), False,
             "Climb one rung of the ladder the DAG author declared with healer.tier(name, ladder), then retry; "
             "stop at its top.", needs=("ladder",)),
    Strategy("refresh_credentials", frozenset({E.AUTHENTICATION_FAILURE}), False,
             "Read the fresh secret of the task's connections from [healer] credential_sources, update the "
             "connections through the REST API, then retry.", needs=("credential_source",)),
    Strategy("grant_permission", frozenset({E.PERMISSION_DENIED}), True,
             "Propose the missing IAM role or ACL for the task's principal.", executable=False),
    Strategy("update_schema", frozenset({E.SCHEMA_MISMATCH}), True,
             "Propose a schema change or a column mapping.", executable=False),
    Strategy("install_dependency", frozenset({E.MISSING_DEPENDENCY}), True,
             "Propose installing the missing package or creating the missing upstream object.",
             executable=False),
    Strategy("quarantine_data", frozenset({E.DATA_CORRUPTION}), True,
             "Propose moving the bad input aside and re-running on the rest.", executable=False),
    Strategy("change_setting", frozenset({E.CONFIGURATION_ERROR}), True,
             "Propose the setting to change: the Airflow Variable, connection, environment variable or option "
             "the error names.", executable=False),
)


def strategy_for(error_type: E, strategies: tuple[Strategy, ...] = STRATEGIES) -> Strategy:
    """The first strategy that claims ``error_type``.

    :raises NoStrategy: when none does.
    """
    for strategy in strategies:
        if error_type in strategy.handles:
            return strategy
    raise NoStrategy(f"No remediation strategy handles {error_type.value!s} errors yet; a person has to look.")


def get_strategy(name: str, strategies: tuple[Strategy, ...] = STRATEGIES) -> Strategy:
    for strategy in strategies:
        if strategy.name == name:
            return strategy
    known = ", ".join(s.name for s in strategies)
    raise NoStrategy(f"Unknown strategy {name!r}; known strategies: {known}.")
