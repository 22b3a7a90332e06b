"""Error localisation: from a task log, the lines that say why the try failed.

The log is split into lines (:mod:`.read`), then:

1. **Boilerplate goes**: lines matching a template of Airflow's own machinery (task runner,
   supervisor, DagBag, connections, XCom, operator start and stop), learnt from successful logs
   (:mod:`.boilerplate`), and the scaffolding of stack traces (``Traceback (most recent call last)``,
   ``File "..."`` frames, Java ``at ...`` frames, ``During handling of the above exception``).
2. **Telling lines are marked**: exception lines (``pkg.SomeError: ...``, ``Caused by: ...``, the
   exceptions of a structured ``error_detail``, cause first), ERROR and CRITICAL events, and lines in
   error shapes (``timed out``, ``No space left``, HTTP 4xx/5xx ...). Messages of wrapper exceptions
   (``Bash command failed ... exit code 28``) are marked too, but only used when nothing else is.
3. **The telling lines are kept**, with the context lines between two of them (a multi-line message's
   own lines) and the line or two after each (messages often continue there), nearest the end first,
   up to a budget of lines and characters; a log with no telling line gives its last lines (``tail``).
   Shapes and templates are judged on a line's body (its timestamp and level taken off); the line is
   kept as written.

The result says which lines were used and why, so an incident can show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_healer.core.logs.boilerplate import ERROR_SHAPE, BoilerplateMiner, default_miner
from airflow_healer.core.logs.read import LogLine, parse_log

#: Most lines and characters of a log that the classifier reads.
MAX_LINES = 30
MAX_CHARS = 3_000

_PY_FRAME = re.compile(r'^\s*File "[^"]*", line \d+')
_JAVA_FRAME = re.compile(r"^\s+at [\w$.<>/\[\]-]+\(.*\)\s*$|^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$")
_TB_SCAFFOLD = re.compile(
    r"^\s*(?:Traceback \(most recent call last\):|During handling of the above exception, another exception "
    r"occurred:|The above exception was the direct cause of the following exception:|[\^~\s]+$|\+[-=]+.*|\|)\s*$"
)
EXCEPTION_LINE = re.compile(
    r"^\s*(?:\[[\w.-]{1,40}\]\s*)?(?:Caused by:\s*|Exception in thread \"[^\"]*\"\s*|\|?\s*)?"
    r"(?P<type>(?:[A-Za-z_][\w$]*\.)*(?:errors|exceptions|errorfactory)\.[A-Z][\w$]*"
    r"|(?:[A-Za-z_][\w$]*\.)*(?:[A-Z][\w$]*)?(?:Error|Exception|Exit|Interrupt|Failure|Timeout|TimedOut|Fault|"
    r"Denied|Forbidden|NotFound|Unauthorized|Unauthenticated|Exhausted|Unavailable|Expired|Conflict|BadRequest|"
    r"TooManyRequests|DeadlineExceeded|Corruption|Expired|Refused|Reset|Exceeded))(?::\s|:$|$)"
)
_RETURN_CODE = re.compile(
    r"(?i)(?:return(?:ed)?(?: a)?(?: non-zero)? (?:code|exit code)|exit(?:ed)?(?: with)? (?:code|status)|"
    r"exit_code=|returncode=|signal=|exit status(?: =)?|error code is:?)\s*(?P<code>-?\d{1,4})"
)
_KILLED = re.compile(
    r"(?i)\b(?P<what>SIGKILL|SIGTERM|SIGSEGV|OOMKilled|Killed process|out of memory|heartbeat timeout|"
    r"without a heartbeat|zombie|externally set|marked as failed|shouldn't be running anymore|"
    r"should not be running anymore)"
)
#: What the log says stopped a task, most telling first: Airflow sends SIGTERM *because* the state was
#: set from outside, so a later SIGTERM must not hide that.
_KILLER_RANK = ("outside", "heartbeat", "oom", "SIGKILL", "SIGSEGV", "SIGTERM", "other")

# Phrases that point at a log instead of naming a cause. A message is a wrapper when, once these
# are taken out, nothing error-shaped is left ("Bash command failed. The command returned a non-zero
# exit code 28." -> "The command ."), so "Login failed for user x" stays informative.
_WRAPPER_PHRASES = re.compile(
    r"(?i)\b(?:bash command failed|returned (?:a )?non-?zero exit (?:code|status)(?: -?\d+)?|"
    r"non-?zero exit (?:code|status)(?: -?\d+)?|exit(?:ed)? with (?:return )?(?:code|status) -?\d+|"
    r"(?:return|exit) code:? -?\d+|exit status(?: =)? -?\d+|error code is:? -?\d+|returned a failure|"
    r"pod (?:\S+ )?failed|"
    r"(?:job|task|step|run|command|pipeline|workflow|execution|application|operator|process|container|"
    r"dbt|spark-submit|build|stage)(?: \S+)? (?:has )?failed(?: with (?:an )?(?:error|exception))?|"
    r"(?:state|status|phase)\b.{0,30}\bfail(?:ed|ure)|task failed with exception|ssh operator error|"
    r"cannot execute|see (?:the )?(?:task |pod |job )?(?:logs?|traceback)(?: for (?:more )?details)?|"
    r"task raised|unknown error|something went wrong|an error (?:has )?occurred|"
    r"calledprocesserror|airflowexception|task failed with no captured error|"
    r"the task failed without a python exception|killed from outside|heartbeat timeout|oom|"
    r"its state was set by the scheduler)\b"
)


#: The placeholders the healer itself records when a try failed with no error text.
OWN_PLACEHOLDERS = ("Task failed with no captured error", "The task failed without a Python exception")
_GENERIC = re.compile(r"(?i)^(?:an? )?(?:unknown |unexpected |fatal )?(?:error|failure|failed|exception)"
                      r"(?: occurred| happened)?[.!]*$|^$")


def is_wrapper(message: str | None) -> bool:
    """True when ``message`` names no cause: a generic exception that points at its log.

    ``Bash command failed. The command returned a non-zero exit code 28.``, ``Pod ... returned a
    failure``, ``Command '...' returned non-zero exit status 1``, ``Job failed`` ...
    """
    if not message or not message.strip():
        return True
    text = message.strip()
    if len(text) > 400:
        return False
    m = EXCEPTION_LINE.match(text)
    if m:
        text = text[m.end():]
    if _GENERIC.match(text.strip()) or text.lstrip().startswith(OWN_PLACEHOLDERS):
        return True
    if not _WRAPPER_PHRASES.search(text) and text.strip(" .:;-"):
        return False
    rest = _WRAPPER_PHRASES.sub(" ", text)
    return not ERROR_SHAPE.search(rest)


@dataclass
class LocatedLine:
    number: int
    text: str
    why: str  # exception | error level | error shape | wrapper | context | tail

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.number, "text": self.text, "why": self.why}


def evidence_line(line: dict[str, Any]) -> str:
    """A located line (as :meth:`LocatedLine.as_dict` and incidents keep it) as one line of evidence."""
    return f"log line {line['line']} ({line['why']}): {line['text'][:200]}"


@dataclass
class Located:
    """The lines of a log that say why a try failed.

    :param lines: the lines kept, in log order.
    :param total_lines: lines read from the log.
    :param boilerplate: lines dropped as boilerplate or stack-trace scaffolding.
    :param exception: the last exception line of the log, if any.
    :param return_code: a process's return code the log names (the last one), if any.
    :param killed: what the log says killed the task (SIGKILL, OOMKilled, heartbeat timeout), if anything.
    """

    lines: list[LocatedLine] = field(default_factory=list)
    total_lines: int = 0
    boilerplate: int = 0
    exception: str = ""
    return_code: int | None = None
    killed: str = ""

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def evidence(self, limit: int = 8) -> list[str]:
        shown = [evidence_line(line.as_dict()) for line in self.lines[-limit:]]
        if self.return_code is not None:
            shown.append(f"log: return code {self.return_code}")
        if self.killed:
            shown.append(f"log: {self.killed}")
        return shown

    def as_dict(self) -> dict[str, Any]:
        return {"lines": [line.as_dict() for line in self.lines], "total_lines": self.total_lines,
                "boilerplate": self.boilerplate, "exception": self.exception, "return_code": self.return_code,
                "killed": self.killed}


def _why(line: LogLine) -> str:
    text = line.body
    if line.kind == "exception" or EXCEPTION_LINE.match(text):
        return "wrapper" if is_wrapper(text) else "exception"
    if is_wrapper(text) and len(text) < 300:
        return "wrapper"
    if line.level in ("ERROR", "CRITICAL"):
        return "error level"
    if ERROR_SHAPE.search(text):
        return "error shape"
    return "context"


def _scaffold(text: str) -> bool:
    return bool(_PY_FRAME.match(text) or _JAVA_FRAME.match(text) or _TB_SCAFFOLD.match(text))


def locate(
    log: str | bytes | Iterable[Any],
    *,
    miner: BoilerplateMiner | None = None,
    max_lines: int = MAX_LINES,
    max_chars: int = MAX_CHARS,
) -> Located:
    """Find the lines of ``log`` that say why the try failed (see the module docstring).

    :param log: the log's text, bytes, or the REST API's list of events.
    :param miner: boilerplate templates; the shipped ones when omitted.
    """
    miner = miner if miner is not None else _default()
    lines = log if isinstance(log, list) and log and isinstance(log[0], LogLine) else parse_log(log)
    result = Located(total_lines=len(lines))
    content: list[tuple[LogLine, str]] = []
    rank = len(_KILLER_RANK)
    after_frame = in_traceback = False
    anchor = -1  # in content: the exception the try failed with (an error_detail, or a traceback's last line)
    block = -1  # in content: where that exception's traceback (or chain) begins
    for line in lines:
        text = line.body
        if not text.strip():
            continue
        if _scaffold(text):
            after_frame = bool(_PY_FRAME.match(text))
            if not in_traceback and (after_frame or "Traceback" in text):
                block = len(content)  # a new traceback (its chained ones follow without a framed line)
            in_traceback = in_traceback or after_frame or "Traceback" in text
            result.boilerplate += 1
            continue
        if after_frame and text.startswith((" ", "\t")) and not EXCEPTION_LINE.match(text):
            after_frame = False  # the source line under a Python frame
            result.boilerplate += 1
            continue
        after_frame = False
        m = _RETURN_CODE.search(text)
        if m:
            result.return_code = int(m.group("code"))
        killers = [k.group("what") for k in _KILLED.finditer(text)]
        if killers:
            killed_rank = min(rank, _rank(killers))
            if killed_rank < rank or not result.killed:
                result.killed, rank = _killed_reason(killers, text), killed_rank
        if line.kind != "exception" and miner.matches(text):
            result.boilerplate += 1
            continue
        why = _why(line)
        if why in ("exception", "wrapper") and EXCEPTION_LINE.match(text):
            result.exception = text.strip()
        if why in ("exception", "wrapper") and (line.kind == "exception" or in_traceback):
            if line.kind == "exception" and not (content and content[-1][0].kind == "exception"):
                block = len(content)  # the first exception of a structured error_detail
            anchor = len(content)
        if _framed(line) and not (why in ("exception", "wrapper") and line.kind == "exception"):
            in_traceback = False
        content.append((line, why))
    if result.return_code is not None and result.return_code in (-9, 137) and not result.killed:
        result.killed = f"killed by SIGKILL (return code {result.return_code})"
    if anchor >= 0:
        # What Airflow logs after the exception the try failed with is its aftermath (marking the task,
        # callbacks, notifications, uploads), however it is worded: only the message's own continuation
        # lines (not framed as new log lines) and further exceptions stay.
        kept = content[: anchor + 1] + [(line, why) for line, why in content[anchor + 1:]
                                         if not _framed(line) or line.kind == "exception"]
        result.boilerplate += len(content) - len(kept)
        content = kept
        if content[anchor][1] == "exception" and block >= 0:
            # An informative exception: it and its chain decide, with the telling lines just before its
            # traceback (an ERROR that introduces it, a subprocess's last words); earlier chatter goes.
            start = max(0, block - 3)
            content = [c for i, c in enumerate(content) if i >= block or (i >= start and c[1] != "context")]
    telling = [c for c in content if c[1] != "wrapper"]
    if not telling:
        telling = content  # only wrappers: they are all there is
    result.lines = _select(telling, max_lines, max_chars)
    return result


def _framed(line: LogLine) -> bool:
    """A line that starts a record of the task log itself (an event, or text in Airflow's framing); a
    message's own lines may carry timestamps of their own, and they do not count."""
    return line.kind == "event" or line.framed


def _kind(killer: str) -> str:
    low = killer.lower()
    if "externally set" in low or low == "marked as failed" or "be running anymore" in low:
        return "outside"
    if low in ("heartbeat timeout", "zombie", "without a heartbeat"):
        return "heartbeat"
    if low in ("oomkilled", "killed process", "out of memory"):
        return "oom"
    return killer.upper() if killer.upper() in _KILLER_RANK else "other"


def _rank(killers: list[str]) -> int:
    return min(_KILLER_RANK.index(_kind(k)) for k in killers)


def _killed_reason(killers: list[str], text: str) -> str:
    kinds = [_kind(k) for k in killers]
    if "outside" in kinds:
        return "its state was set from outside (by hand or through the API) and Airflow stopped it"
    if "heartbeat" in kinds:
        return "heartbeat timeout: the task stopped reporting and the scheduler failed it"
    signals = [k for k in kinds if k.startswith("SIG")]
    if signals:
        return f"killed by {signals[0]}" + (" (likely out of memory, OOM)" if "oom" in kinds else "")
    if "oom" in kinds:
        return "killed for running out of memory (OOM)"
    return f"killed ({killers[0]})"


def _select(content: list[tuple[LogLine, str]], max_lines: int, max_chars: int) -> list[LocatedLine]:
    """The telling lines, the context lines between them (a message's own continuation lines) and
    the two lines after the last of each run; the last ones win when that is over budget."""
    telling = [i for i, (_, why) in enumerate(content) if why != "context"]
    if not telling:
        keep = {i: "tail" for i in range(max(0, len(content) - 10), len(content))}
    else:
        keep = {}
        for n, i in enumerate(telling):
            keep[i] = content[i][1]
            following = telling[n + 1] if n + 1 < len(telling) else None
            if following is not None and following - i <= 4:
                keep.update({j: "context" for j in range(i + 1, following)})
            else:
                keep.update({j: "context" for j in range(i + 1, min(i + 3, len(content)))
                             if content[j][1] == "context"})
    out, used = [], 0
    for i in sorted(keep, reverse=True):
        line = content[i][0]
        text = line.text[:max_chars]
        if out and (used + len(text) > max_chars or len(out) >= max_lines):
            break
        out.append(LocatedLine(line.number, text, keep[i]))
        used += len(text) + 1
    return sorted(out, key=lambda located: located.number)


_MINER: BoilerplateMiner | None = None


def _default() -> BoilerplateMiner:
    global _MINER
    if _MINER is None:
        _MINER = default_miner()
    return _MINER


_FRAMED = re.compile(r"^\[[^\]]{8,40}\]\s|^\d{4}-\d\d-\d\d[T ]\d\d:\d\d|^\{\"")


def looks_like_log(text: str) -> bool:
    """True when ``text`` is a log (framed or structured lines around a message), not a bare message."""
    if text.count("\n") < 2:
        return False
    head = text.splitlines()[:400]
    framed = [line for line in head if _FRAMED.match(line)]
    if len(framed) >= 3:
        return True
    # Two framed lines: a log when one of them is Airflow's own (a folding marker parses to no line at all).
    return len(framed) == 2 and any(not parsed or _default().matches(parsed[0].text)
                                    for parsed in (parse_log(line) for line in framed))


def compose(message: str, located: Located | Iterable[str] | None, *, max_extra_lines: int = 8) -> str:
    """What the classifier reads for a failure: the exception's message and the log's telling lines.

    A wrapper message (one that names no cause) gives way to the log; an informative one comes
    first, followed by the located lines it does not already contain.

    :param located: a :class:`Located`, or the texts of located lines (as an incident stores them).
    """
    if located is None:
        return message
    texts = [line.text for line in located.lines] if isinstance(located, Located) else list(located)
    texts = [t for t in texts if t.strip()]
    if not texts:
        return message
    if is_wrapper(message):
        return "\n".join(texts)
    said = message.strip()

    def repeats(line: str) -> bool:  # "RuntimeError: fetch failed" repeats the message "fetch failed"
        line = line.strip()
        m = EXCEPTION_LINE.match(line)
        return line in said or (m is not None and line[m.end():].strip() == said)

    extra = [t for t in texts if not repeats(t) and not is_wrapper(t)][-max_extra_lines:]
    return "\n".join([message, *extra]) if extra else message


def classifier_text(text: str) -> str:
    """``text`` as the classifier should read it: a log's located lines, a bare message as it is."""
    if not looks_like_log(text):
        return text
    located = locate(text)
    return located.text or text
