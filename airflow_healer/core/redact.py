"""Mask secrets and personal data before anything is stored or sent.

Airflow's own secrets masker (connection passwords, variables with sensitive names) is applied by
the Airflow edge when it is available; these patterns catch what it cannot know about: tokens,
keys and passwords that appear inside error messages.
"""

from __future__ import annotations

import re

MASK = "***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # user:password@host in URLs and DSNs
    (re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(?=@)"), rf"\g<pre>{MASK}"),
    # PEM private keys
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), MASK),
    # Authorization headers and bearer tokens
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    # JSON web tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b"), MASK),
    # Google API keys, OAuth tokens, AWS access keys, GitHub and Slack tokens
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    (re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), MASK),
    # key=value / "key": "value" pairs whose key names a secret
    (
        re.compile(
            r"(?i)(?P<key>[\"']?\b[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|client[_-]?secret|credential)s?[\"']?\s*[:=]\s*[\"']?)(?P<val>[^\s\"',;&}]+)"
        ),
        rf"\g<key>{MASK}",
    ),
    # e-mail addresses (service accounts are kept: they name a principal, not a person)
    (re.compile(r"\b[\w.+-]+@(?![\w-]+\.iam\.gserviceaccount\.com\b)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), "<email>"),
]


def redact(text: str) -> str:
    """Return ``text`` with secrets and personal data masked."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text
