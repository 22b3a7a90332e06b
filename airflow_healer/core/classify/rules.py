"""A small rule classifier: the fallback when no trained model is available.

It knows the unmistakable phrasings only and answers ``unknown`` otherwise; the trained model
(TF-IDF + RandomForest with retrieval) is what the healer uses when it can load it.
"""

from __future__ import annotations

import re

from airflow_healer.core.types import Classification, ErrorType

# Ordered: the first rule that matches wins, so the narrower phrasings come first.
_RULES: list[tuple[ErrorType, re.Pattern[str]]] = [
    (ErrorType.DISK_SPACE_FULL, re.compile(r"no space left on device|disk quota exceeded|ephemeral.storage", re.I)),
    (ErrorType.MEMORY_LEAK, re.compile(r"java heap space|gc overhead limit|metaspace|\bMemoryError\b|out of memory: kill", re.I)),
    (ErrorType.RATE_LIMITING, re.compile(r"\b429\b|rate.?limit|too many requests|throttl", re.I)),
    (ErrorType.RESOURCE_EXHAUSTION, re.compile(r"quota exceeded|resources exceeded|oomkilled|too many open files|insufficient (cpu|memory)", re.I)),
    (ErrorType.AUTHENTICATION_FAILURE, re.compile(r"\b401\b|unauthenticated|invalid_grant|expired token|token (has )?expired|authentication failed|could not automatically determine credentials", re.I)),
    (ErrorType.PERMISSION_DENIED, re.compile(r"\b403\b|permission denied|access denied|does not have .*permission|forbidden", re.I)),
    (ErrorType.TIMEOUT_EXCEEDED, re.compile(r"execution_timeout|statement timeout|AirflowTaskTimeout|deadline exceeded for job|timed out after \d+ ?s(econds)? of execution", re.I)),
    (ErrorType.NETWORK_TIMEOUT, re.compile(r"connect(ion)? ?timeout|timed out|connection (refused|reset)|temporary failure in name resolution|\bUNAVAILABLE\b|ConnectTimeout|ReadTimeout", re.I)),
    (ErrorType.SCHEMA_MISMATCH, re.compile(r"schema|no such (field|column)|column .* does not exist|type mismatch", re.I)),
    (ErrorType.DATA_CORRUPTION, re.compile(r"corrupt|malformed|checksum|invalid (utf-8|byte sequence)|unexpected end of", re.I)),
    (ErrorType.MISSING_DEPENDENCY, re.compile(r"ModuleNotFoundError|No module named|ClassNotFoundException|not found: (table|dataset)|command not found", re.I)),
    (ErrorType.CONFIGURATION_ERROR, re.compile(r"conn(ection)? id .* (isn't|is not) defined|variable .* does not exist|invalid (config|setting|value)|missing required", re.I)),
]


class RuleClassifier:
    """Classify by the first matching rule; confidence 0.6 on a match, ``unknown`` otherwise."""

    name = "rules"

    def classify(self, text: str, *, exception_type: str | None = None, operator: str | None = None) -> Classification:
        probe = f"{exception_type or ''}: {text}"
        for error_type, pattern in _RULES:
            match = pattern.search(probe)
            if match:
                return Classification(error_type, 0.6, classifier=self.name, evidence=[match.group(0)])
        return Classification(ErrorType.UNKNOWN, 0.0, classifier=self.name)
