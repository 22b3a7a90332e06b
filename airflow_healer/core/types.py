"""Plain dataclasses that flow through capture -> classify -> decide -> act -> outcome.

Nothing here imports Airflow, Google or scikit-learn: DAG files import this module.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class ErrorType(str, enum.Enum):
    """The twelve kinds of pipeline failure the healer knows, plus ``unknown``.

    ``unknown`` is what the classifier answers below its confidence bar, so that the
    engine escalates to a person instead of acting on a guess.
    """

    PERMISSION_DENIED = "permission_denied"
    NETWORK_TIMEOUT = "network_timeout"
    SCHEMA_MISMATCH = "schema_mismatch"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    AUTHENTICATION_FAILURE = "authentication_failure"
    DATA_CORRUPTION = "data_corruption"
    MISSING_DEPENDENCY = "missing_dependency"
    CONFIGURATION_ERROR = "configuration_error"
    RATE_LIMITING = "rate_limiting"
    DISK_SPACE_FULL = "disk_space_full"
    MEMORY_LEAK = "memory_leak"
    TIMEOUT_EXCEEDED = "timeout_exceeded"
    UNKNOWN = "unknown"

    @classmethod
    def known(cls) -> list[ErrorType]:
        """The twelve real types, in declaration order (``unknown`` excluded)."""
        return [t for t in cls if t is not cls.UNKNOWN]

    def __str__(self) -> str:
        return self.value


class IncidentStatus(str, enum.Enum):
    OPEN = "open"  # captured, nothing decided yet
    HEALING = "healing"  # an action is under way
    RECOVERED = "recovered"  # the task succeeded after an action
    NOT_RECOVERED = "not_recovered"  # the healer tried and gave up, or had nothing to try
    ESCALATED = "escalated"  # waits for a person (proposal, low confidence)

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    PROPOSED = "proposed"  # risky action waiting for approval
    SKIPPED = "skipped"  # decided against acting (observe mode, no strategy)

    def __str__(self) -> str:
        return self.value


@dataclass
class Failure:
    """One failed try of one task instance, as captured."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    operator: str | None = None
    exception_type: str | None = None
    message: str = ""
    traceback: str = ""
    fingerprint: str = ""
    hostname: str | None = None
    started_at: str | None = None
    failed_at: str | None = None
    captured_at: str | None = None
    source: str = "callback"  # callback | watchdog | healer | gcp
    log_excerpt: str = ""  # the redacted tail of the try's log
    log_lines: list[dict[str, Any]] = field(default_factory=list)  # located lines: {line, text, why}
    log_note: str = ""  # why the log could not be read, or what it says killed the task
    conn_ids: list[str] = field(default_factory=list)  # the Airflow connections the task uses

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index)


@dataclass
class Classification:
    error_type: ErrorType
    confidence: float
    classifier: str = "rules"
    evidence: list[str] = field(default_factory=list)
    strategy: str | None = None
    similar: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["error_type"] = self.error_type.value
        return d


@dataclass
class Action:
    """What the healer did (or proposed) about an incident."""

    strategy: str
    attempt: int
    outcome: Outcome = Outcome.PENDING
    detail: str = ""
    id: int | None = None
    incident_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    risky: bool = False


@dataclass
class Incident:
    """A task instance's failure episode within one DAG run.

    Every failed try of the same (dag_id, run_id, task_id, map_index) belongs to one incident;
    the healer's retries are its actions.
    """

    id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    status: IncidentStatus
    created_at: str
    updated_at: str
    last_try_number: int
    operator: str | None = None
    exception_type: str | None = None
    message: str = ""
    traceback: str = ""
    fingerprint: str = ""
    hostname: str | None = None
    error_type: ErrorType | None = None
    confidence: float | None = None
    classifier: str | None = None
    evidence: list[str] = field(default_factory=list)
    reason: str = ""
    log_excerpt: str = ""
    log_lines: list[dict[str, Any]] = field(default_factory=list)
    log_note: str = ""
    conn_ids: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["error_type"] = self.error_type.value if self.error_type else None
        for a in d["actions"]:
            a["outcome"] = str(a["outcome"])
        return d
