"""Turn an error message into its template: the part that stays the same between occurrences.

Ids, numbers, hex, uuids, urls, paths, emails and timestamps are masked; exception class names
and error codes (``403``, ``ORA-01555``, ``SQLSTATE 53100``) stay, because they tell errors apart.
Input is untrusted: it is capped before any regex runs, so a 10 MB log or binary garbage costs
bounded time and memory.
"""

from __future__ import annotations

import hashlib
import re

#: Characters kept from the *start and end* of a message before anything else runs.
MAX_CHARS = 20_000

# Order matters: the wider patterns (urls, paths, timestamps) go before numbers.
_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<TS>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<DATE>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<TIME>"),
    (re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>)\]]+"), "<URL>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<EMAIL>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<UUID>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<HEX>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "<HEX>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"(?:(?<=\s)|(?<=^)|(?<=[\"'=(]))(?:[A-Za-z]:)?(?:/[\w.@%+-]+){2,}/?"), "<PATH>"),
    # Identifiers that mix letters and digits (job ids, pod names) but not error codes like ORA-01555.
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:[-_][a-z0-9]+){2,}\b"), "<ID>"),
    (re.compile(r"(?<![A-Za-z-])\d+(?:\.\d+)?"), "<NUM>"),
]
# Error codes survive the number mask: HTTP statuses, errno, SQLSTATE, vendor codes.
_KEEP_CODE = re.compile(r"\b(?:[1-5]\d\d|[A-Z]{2,5}-\d{3,5}|Errno \d+|SQLSTATE \w{5}|exit code \d+)\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r"[ \t]+")
_TB_FRAME = re.compile(r'^\s*File "[^"]*", line \d+, in .*$')
_TB_HEAD = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")


def to_text(value: object, limit: int = MAX_CHARS) -> str:
    """Return ``value`` as bounded text: bytes are decoded leniently, control bytes dropped.

    Keeps the head and the tail when the text is longer than ``limit``: the exception line of a
    log usually sits at its end, and the command that failed at its start.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value[: limit * 4]) if len(value) <= limit * 8 else bytes(value[: limit * 2]) + bytes(value[-limit * 2 :])
        text = raw.decode("utf-8", errors="replace")
    else:
        text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        half = limit // 2
        text = text[:half] + "\n...\n" + text[-half:]
    return _CONTROL.sub(" ", text)


def reduce_traceback(text: str, keep_frames: int = 2) -> str:
    """Drop the middle of Python tracebacks, keeping the last frames and every message line."""
    lines = text.splitlines()
    if not any(_TB_HEAD.match(line) for line in lines):
        return text
    out: list[str] = []
    frames: list[str] = []
    in_tb = False
    for line in lines:
        if _TB_HEAD.match(line):
            in_tb, frames = True, []
            continue
        if in_tb and _TB_FRAME.match(line):
            frames.append(line.strip())
            continue
        if in_tb and frames and line.startswith((" ", "\t")) and not line.strip().startswith(("^", "~")):
            frames[-1] += " | " + line.strip()
            continue
        if in_tb and line.strip().startswith(("^", "~")):
            continue
        if in_tb:
            out.extend(frames[-keep_frames:])
            in_tb = False
        out.append(line)
    if in_tb:
        out.extend(frames[-keep_frames:])
    return "\n".join(out)


def mask(text: str) -> str:
    """Mask the variable parts of ``text`` (see the module docstring)."""
    codes: list[str] = []

    def _stash(match: re.Match[str]) -> str:
        codes.append(match.group(0))
        return f"\x00{len(codes) - 1}\x00"

    text = _KEEP_CODE.sub(_stash, text)
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    if codes:
        text = re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)
    return text


def normalize(value: object, limit: int = MAX_CHARS) -> str:
    """Bounded, traceback-reduced, masked, whitespace-folded form of an error message."""
    text = reduce_traceback(to_text(value, limit))
    text = mask(text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(value: object) -> str:
    """A short stable id of the error's template: same error, other ids and numbers -> same id."""
    template = normalize(value).lower()
    return hashlib.sha1(template.encode("utf-8", errors="replace")).hexdigest()[:16]
