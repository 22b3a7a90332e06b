"""Read a task log's tail in bounded time and memory, and split it into lines with their level.

A log arrives in one of three shapes: Airflow 3's JSON lines (one structured event a line, as the
task runner writes them to ``attempt=N.log``), the REST API's ``content`` list of the same events,
or plain text (Airflow 2 logs, a pod's or a Spark driver's output, an upload). Every shape becomes
a list of :class:`LogLine`; an exception event's ``error_detail`` becomes exception lines.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_healer.core.normalize import to_text

#: Bytes read from the end of a log: the failure is at the end, and a 50 MB log must cost no more.
MAX_LOG_BYTES = 256 * 1024
#: Lines kept from that tail.
MAX_LOG_LINES = 4_000
#: Characters of one line; a longer line (a minified payload, binary garbage) is cut.
MAX_LINE_CHARS = 2_000
#: Characters of one JSON event line that is parsed (an exception event carries every frame).
MAX_EVENT_CHARS = 200_000

LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING", "error": "ERROR",
          "err": "ERROR", "exception": "ERROR", "critical": "CRITICAL", "fatal": "CRITICAL", "severe": "CRITICAL",
          "i": "INFO", "w": "WARNING", "e": "ERROR", "f": "CRITICAL"}


@dataclass
class LogLine:
    """One line of a log.

    :param number: 1-based position in the part of the log that was read.
    :param text: the message, without an Airflow framing (timestamp, source, level) around it.
    :param level: DEBUG, INFO, WARNING, ERROR or CRITICAL when the line says; else None.
    :param logger: the logger or source file that wrote it, when known.
    :param kind: ``event`` (structured), ``text``, or ``exception`` (from an event's error_detail).
    :param framed: True when an Airflow framing was stripped (the text is the bare message).
    """

    number: int
    text: str
    level: str | None = None
    logger: str | None = None
    kind: str = "text"
    framed: bool = False

    @property
    def body(self) -> str:
        """The text without a leading timestamp and level (what shapes and templates are judged on)."""
        if self.framed:
            m = _CONTAINER.match(self.text)
            return self.text[m.end():] if m else self.text
        m = _PREFIX.match(self.text)
        return self.text[m.end():] if m and m.end() else self.text


def read_tail(path: str | os.PathLike[str], max_bytes: int = MAX_LOG_BYTES) -> str:
    """The last ``max_bytes`` of a file as text, starting at a line boundary.

    :raises OSError: when the file cannot be read (the caller decides what that means).
    """
    with open(Path(path), "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - max_bytes)
        fh.seek(start)
        raw = fh.read(max_bytes)
    if start > 0:
        newline = raw.find(b"\n")
        raw = raw[newline + 1 :] if 0 <= newline < len(raw) - 1 else raw
    return raw.decode("utf-8", errors="replace")


# -- text framings ------------------------------------------------------------------------------
# Airflow's own framings are stripped (the message is what matters); other shapes (log4j, Python
# logging, glog) keep their text, because an error message often carries them itself.

_LEVEL_WORD = r"(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|debug|info|warning|warn|error|critical|fatal)"
_AIRFLOW_FRAMES = [
    # Airflow 2: [2024-01-01, 12:00:00 UTC] {taskinstance.py:1234} ERROR - message
    re.compile(r"^\[[^\]]{8,40}\]\s+\{(?P<logger>[^}]{1,120})\}\s+" + _LEVEL_WORD + r"\s+-\s?(?P<msg>.*)$"),
    # Airflow 3, as the UI renders it: [2025-06-01 12:00:00] ERROR - message source=... loc=...
    re.compile(r"^\[[^\]]{8,40}\]\s+" + _LEVEL_WORD + r"\s+-\s?(?P<msg>.*?)(?P<tail>(?:\s+(?:source|loc|chan|logger)=\S+)*)$"),
    # structlog's console renderer: 2025-06-01T12:00:00.123456Z [error    ] message [logger] k=v
    re.compile(r"^\d{4}-\d\d-\d\d[T ][\d:.,]{8,20}Z?\s+\[" + _LEVEL_WORD + r"\s*\]\s+(?P<msg>.*)$"),
]
_SKIP_EVENTS = ("::group::", "::endgroup::")  # the UI's folding markers
# A leading timestamp (with its UTC or offset) and level of any framing; one blank after the level is
# taken, so the indentation of a traceback's lines survives.
_PREFIX = re.compile(
    r"^(?:\[?(?:\d{2,4}[-/]\d\d[-/]\d\d[T ,]{1,2})?\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
    r"(?:\s?UTC)?\]?\s+)?"
    r"(?:\[?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|SEVERE|NOTICE)\]?(?:\s*[:-])?\s)?"
    r"(?:\[[\w.-]{1,40}\] ?)?"  # a pod's container name, as KubernetesPodOperator prefixes its lines
)
_CONTAINER = re.compile(r"^\[[\w.-]{1,40}\] ?(?=\S|$)")
_OTHER_LEVEL = re.compile(
    r"^(?:\S{0,40}\s){0,4}?\[?" + _LEVEL_WORD + r"\]?[\s:]"  # 2024-.. ERROR x, 24/01/01 12:00 WARN y
    r"|^(?P<glog>[IWEF])\d{4} \d\d:\d\d:\d\d"  # glog (Kubernetes components)
    r"|^.{0,160}?\blevel=\"?(?P<kv>\w+)"  # logfmt: time=... level=error msg=...
)


def _text_line(number: int, raw: str) -> LogLine | None:
    for frame in _AIRFLOW_FRAMES:
        m = frame.match(raw)
        if m:
            msg = m.group("msg")
            if msg.startswith(_SKIP_EVENTS):
                return None
            logger = m.groupdict().get("logger")
            return LogLine(number, msg.rstrip(), LEVELS.get(m.group("level").lower()), logger, "text", True)
    m = _OTHER_LEVEL.match(raw[:200])
    level = None
    if m:
        word = m.group("level") or m.group("glog") or m.group("kv") or ""
        level = LEVELS.get(word.lower())
    return LogLine(number, raw.rstrip(), level, None, "text", False)


# -- structured events -------------------------------------------------------------------------


def _exception_lines(detail: Any) -> list[tuple[str, str]]:
    """(text, logger) lines of a structlog ``error_detail``: each exception in its chain, cause first."""
    out: list[tuple[str, str]] = []
    items = detail if isinstance(detail, list) else [detail]
    # structlog lists the raised exception first and its causes after it; a traceback reads cause first.
    for item in reversed(items):
        if not isinstance(item, Mapping):
            continue
        exc_type = str(item.get("exc_type") or "Exception")
        value = str(item.get("exc_value") or "")
        # Untrusted shapes: a field of the wrong type is ignored, never a reason to fail.
        frames = item.get("frames")
        where = ""
        if isinstance(frames, list) and frames and isinstance(frames[-1], Mapping):
            last = frames[-1]
            where = f'{last.get("filename", "?")}:{last.get("lineno", "?")} in {last.get("name", "?")}'
        out.append((f"{exc_type}: {value}" if value else exc_type, where))
        notes = item.get("exc_notes")
        for note in notes if isinstance(notes, list) else []:
            out.append((str(note), where))
        group = item.get("exceptions")
        for sub in group if isinstance(group, list) else []:  # exception groups
            out.extend(_exception_lines(sub))
    return out


def _event_lines(start: int, event: Mapping[str, Any]) -> list[LogLine]:
    text = event.get("event")
    if text is None:
        text = event.get("message", "")
    text = str(text)
    if text.startswith(_SKIP_EVENTS):
        return []
    level = LEVELS.get(str(event.get("level") or event.get("severity") or "").lower())
    logger = event.get("logger") or event.get("name")
    # The supervisor puts a killed task's signal and return code in fields, not in the text.
    facts = [f"{key}={event[key]}" for key in ("signal", "signal_name", "signal_sent", "exit_code", "return_code")
             if event.get(key) is not None]
    if facts:
        text = f"{text} ({', '.join(facts)})"
    lines = [LogLine(start + i, part.rstrip()[:MAX_LINE_CHARS], level, logger, "event", True)
             for i, part in enumerate(text.splitlines()[:200] or [""])]
    detail = event.get("error_detail") or event.get("exc_info") or event.get("exception")
    if detail and not isinstance(detail, (str, bool)):
        for text_, where in _exception_lines(detail):
            for part in text_.splitlines() or [""]:
                lines.append(LogLine(start + len(lines), part.rstrip()[:MAX_LINE_CHARS], "ERROR", where or logger,
                                     "exception", True))
    elif isinstance(detail, str) and detail.strip():  # a formatted traceback
        for part in detail.splitlines():
            lines.append(LogLine(start + len(lines), part.rstrip(), "ERROR", logger, "exception", True))
    return lines


def parse_log(log: str | bytes | Iterable[Any], max_lines: int = MAX_LOG_LINES) -> list[LogLine]:
    """Split a log into :class:`LogLine`\\ s, whatever its shape; keeps the last ``max_lines``.

    :param log: text (JSON lines or plain), bytes, or the REST API's list of events (dicts or strings).
    """
    if isinstance(log, (str, bytes, bytearray)):
        text = to_text(log, MAX_LOG_BYTES) if len(log) > MAX_LOG_BYTES else (
            log.decode("utf-8", errors="replace") if isinstance(log, (bytes, bytearray)) else log)
        items: Iterable[Any] = text.splitlines()[-max_lines:]
    else:
        items = list(log)[-max_lines:]
    out: list[LogLine] = []
    in_sources = False
    for item in items:
        number = len(out) + 1
        if isinstance(item, Mapping):
            # The API starts with a group naming where the log was read from: not the task's words.
            event = str(item.get("event", ""))
            if event.startswith("::group::Log message source details"):
                in_sources = True
            elif in_sources:
                in_sources = not event.startswith("::endgroup::")
            else:
                out.extend(_event_lines(number, item))
            continue
        raw = str(item)
        stripped = raw.strip()
        # A structured event with a long traceback in error_detail is parsed whole (up to a bound).
        if stripped.startswith("{") and stripped.endswith("}") and '"' in stripped and len(raw) <= MAX_EVENT_CHARS:
            try:
                event = json.loads(stripped)
            except (ValueError, RecursionError):  # not JSON, or nested too deep to be a log event
                event = None
            if isinstance(event, Mapping) and ("event" in event or "message" in event):
                out.extend(_event_lines(number, event))
                continue
        if raw.startswith(_SKIP_EVENTS):
            continue
        line = _text_line(number, to_text(raw[:MAX_LINE_CHARS], MAX_LINE_CHARS))
        if line is not None:
            out.append(line)
    if len(out) > max_lines:
        out = out[-max_lines:]
    return out
