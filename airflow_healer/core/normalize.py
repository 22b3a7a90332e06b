"""Turn an error message into its template: the part that stays the same between occurrences.

Ids, numbers, hex, uuids, urls, paths, emails and timestamps are masked; exception class names
and error codes (``403``, ``ORA-01555``, ``SQLSTATE 53100``) stay, because they tell errors apart.
Input is untrusted: it is capped before any regex runs, so a 10 MB log or binary garbage costs
bounded time and memory.
"""

from __future__ import annotations

import functools
import hashlib
import re

#: Characters kept from the *start and end* of a message before anything else runs.
MAX_CHARS = 20_000

# One alternation, applied in a single pass: at each position the first alternative that matches
# wins, so the wide shapes (timestamps, urls, paths) come before ids and numbers, and error codes
# (kept verbatim) come before the number mask. Every quantifier is bounded so that adversarial input
# cannot make the regex engine backtrack for long.
_PATTERNS: list[tuple[str, str | None]] = [
    (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?", "<TS>"),
    (r"\b\d{4}-\d{2}-\d{2}\b", "<DATE>"),
    (r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?\b", "<TIME>"),
    (r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>)\]]{1,2000}", "<URL>"),
    (r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}", "<EMAIL>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<UUID>"),
    (r"\b0x[0-9a-fA-F]{1,64}\b", "<HEX>"),
    (r"\b(?=[0-9a-fA-F]{0,200}\d)(?=[0-9a-fA-F]{0,200}[a-fA-F])[0-9a-fA-F]{12,200}\b", "<HEX>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b", "<IP>"),
    (r"(?:(?<=\s)|(?<=^)|(?<=[\"'=(\[]))(?:[A-Za-z]:)?(?:/[\w.@%+=$-]{1,255}){2,64}/?", "<PATH>"),
    # Error codes survive: HTTP statuses in context, errno, SQLSTATE, vendor codes, exit codes.
    (
        r"\b(?:HTTP(?:/\d(?:\.\d)?)?|[Ss]tatus(?: [Cc]ode)?|[Cc]ode|[Ee]rror|HttpError|[Ee]xit[ _][Cc]ode|"
        r"return code|[Ee]xit status|Errno|Errcode|signal|SQLSTATE)['\":= (]{0,4}-?[0-9A-Z]{1,5}\b",
        None,
    ),
    (r"\b[A-Z]{2,5}-\d{3,5}\b", None),
    (r"(?<=\()[1-5]\d\d(?=\))|(?<=\()\d{4}(?=,)", None),
    (r"\b[1-5]\d\d\b(?=:?\s?(?:[A-Z][a-z]|[A-Z]{3,}|Client|Server))", None),
    # Identifiers that mix letters and digits (job ids, pod names) but not error codes like ORA-01555.
    (r"\b(?=[\w-]{0,200}\d)(?=[\w-]{0,200}[a-z])[a-z0-9]{1,64}(?:[-_][a-z0-9]{1,64}){2,30}\b", "<ID>"),
    (r"\b(?=[\w-]{0,100}\d)(?=[\w-]{0,100}[A-Za-z])[\w-]{16,100}\b", "<ID>"),
    (r"(?<![A-Za-z0-9])\d{1,40}(?:\.\d{1,40})?", "<NUM>"),
]
_MASK = re.compile("|".join(f"({p})" for p, _ in _PATTERNS))
_REPL = [r for _, r in _PATTERNS]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r"[ \t]+")
_TB_FRAME = re.compile(r'^\s*File "[^"]*", line \d+, in .*$')
_TB_HEAD = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")
_JAVA_FRAME = re.compile(r"^\s+at [\w$.<>/]+\(.*\)\s*$|^\s+\.\.\. \d+ more\s*$")


def to_text(value: object, limit: int = MAX_CHARS) -> str:
    """Return ``value`` as bounded text: bytes are decoded leniently, control bytes dropped.

    Keeps the head and the tail when the text is longer than ``limit``: the exception line of a
    log usually sits at its end, and the command that failed at its start.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = (
            bytes(value[: limit * 4])
            if len(value) <= limit * 8
            else bytes(value[: limit * 2]) + bytes(value[-limit * 2 :])
        )
        text = raw.decode("utf-8", errors="replace")
    else:
        text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        half = limit // 2
        text = text[:half] + "\n...\n" + text[-half:]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (bytes decoded with surrogateescape): no store can keep them
            text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", text)


def _reduce_java(lines: list[str], keep_frames: int) -> list[str]:
    """Keep the first frames of each run of Java ``at ...`` lines: the throwing site is on top."""
    out: list[str] = []
    run = 0
    for line in lines:
        if _JAVA_FRAME.match(line):
            run += 1
            if run <= keep_frames:
                out.append(line)
            continue
        run = 0
        out.append(line)
    return out


def reduce_traceback(text: str, keep_frames: int = 2) -> str:
    """Drop the middle of Python tracebacks and Java stack traces, keeping every message line.

    Python frames are kept from the bottom (the raising call), Java frames from the top.
    """
    lines = text.splitlines()
    if any(_JAVA_FRAME.match(line) for line in lines):
        lines = _reduce_java(lines, keep_frames)
        text = "\n".join(lines)
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
    if len(text) > 4 * MAX_CHARS:
        text = to_text(text)

    def _sub(match: re.Match[str]) -> str:
        repl = _REPL[match.lastindex - 1] if match.lastindex else None
        return match.group(0) if repl is None else repl

    return _MASK.sub(_sub, text)


#: Messages up to this length are memoised: the classifier's features and its retrieval both
#: normalise the same message, and a memo halves that cost for a batch.
_MEMO_CHARS = 4_000


def normalize(value: object, limit: int = MAX_CHARS) -> str:
    """Bounded, traceback-reduced, masked, whitespace-folded form of an error message."""
    if isinstance(value, str) and len(value) <= _MEMO_CHARS and limit >= _MEMO_CHARS:
        return _normalize_memo(value)
    return _normalize(value, limit)


@functools.lru_cache(maxsize=2048)
def _normalize_memo(text: str) -> str:
    return _normalize(text, MAX_CHARS)


def _normalize(value: object, limit: int) -> str:
    text = reduce_traceback(to_text(value, limit))
    text = mask(text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(value: object) -> str:
    """A short stable id of the error's template: same error, other ids and numbers -> same id."""
    template = normalize(value).lower()
    return hashlib.sha1(template.encode("utf-8", errors="replace")).hexdigest()[:16]
