"""Capture: turn a failed try into a redacted, fingerprinted :class:`Failure` and record it.

Recording is bounded in time and never raises: when the store cannot be written within
``callback_timeout_seconds`` the failure is spooled to a local JSON-lines file and written by the
next healer that runs (or ``airflow-healer replay``). Nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback as tb
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.normalize import fingerprint, to_text
from airflow_healer.core.redact import redact
from airflow_healer.core.store import Store, open_store
from airflow_healer.core.store.base import utcnow
from airflow_healer.core.types import Failure

if TYPE_CHECKING:  # the log modules compile large regexes: DAG files importing the callback skip them
    from airflow_healer.core.logs import BoilerplateMiner, Located

log = logging.getLogger(__name__)

#: The message of a failed try recorded from the API, when no callback recorded its error.
NO_CALLBACK_ERROR = "Task failed with no captured error: no failure callback recorded it."
MAX_MESSAGE_CHARS = 8_000
MAX_TRACEBACK_CHARS = 4_000
#: The log tail kept with a failure: its last lines, as text, up to this many characters.
MAX_EXCERPT_CHARS = 8_000
MAX_EXCERPT_LINES = 80
SPOOL_FILE = "failures.jsonl"


def traceback_tail(exc: BaseException | None, limit: int = MAX_TRACEBACK_CHARS) -> str:
    if exc is None or exc.__traceback__ is None:
        return ""
    text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return text[-limit:]


def make_failure(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int = -1,
    try_number: int = 1,
    operator: str | None = None,
    exception: BaseException | None = None,
    message: object = None,
    traceback: str = "",
    hostname: str | None = None,
    started_at: str | None = None,
    source: str = "callback",
    redactor: Callable[[str], str] | None = None,
    conn_ids: list[str] | None = None,
) -> Failure:
    """Build a :class:`Failure` with its message and traceback capped and redacted.

    :param exception: the exception the task raised, when there is one.
    :param message: the error text when there is no exception (watchdog, external jobs).
    :param redactor: an extra masking function applied before ours (Airflow's secrets masker).
    """
    if message is None:
        message = str(exception) if exception is not None else ""
    text = to_text(message, MAX_MESSAGE_CHARS)
    trace = to_text(traceback or traceback_tail(exception), MAX_TRACEBACK_CHARS)
    if redactor is not None:
        text, trace = redactor(text), redactor(trace)
    text, trace = redact(text), redact(trace)
    exception_type = type(exception).__name__ if exception is not None else None
    return Failure(
        dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number,
        operator=operator, exception_type=exception_type, message=text, traceback=trace,
        fingerprint=fingerprint(f"{exception_type or ''}: {text}"), hostname=hostname,
        started_at=started_at, failed_at=utcnow(), captured_at=utcnow(), source=source,
        conn_ids=sorted(set(conn_ids or [])),
    )


def attach_log(
    failure: Failure,
    log: object,
    *,
    miner: BoilerplateMiner | None = None,
    redactor: Callable[[str], str] | None = None,
) -> Located:
    """Read ``log`` (text, bytes or the API's events) into ``failure``: its tail, the lines that say
    why (redacted like the message), and what the log says killed the task. Returns what was located.

    The fingerprint follows what the classifier reads, so two Bash failures with the same exit code
    but different causes are different templates.
    """
    from airflow_healer.core.logs import compose, locate, parse_log

    lines = parse_log(log)  # type: ignore[arg-type]
    located = locate(lines, miner=miner)

    def clean(text: str) -> str:
        text = redactor(text) if redactor is not None else text
        return redact(text)

    tail = [line.text for line in lines[-MAX_EXCERPT_LINES:]]
    failure.log_excerpt = clean(to_text("\n".join(tail), MAX_EXCERPT_CHARS))
    failure.log_lines = [{**line.as_dict(), "text": clean(line.text)} for line in located.lines]
    notes = []
    if located.killed:
        notes.append(located.killed)
    if located.return_code is not None:
        notes.append(f"return code {located.return_code}")
    failure.log_note = "; ".join(notes)
    failure.fingerprint = fingerprint(
        f"{failure.exception_type or ''}: {compose(failure.message, [t['text'] for t in failure.log_lines])}")
    return located


class Spool:
    """Failures that could not be stored yet, one JSON object a line; appends are atomic per line."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / SPOOL_FILE

    def append(self, failure: Failure) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(failure), default=str) + "\n").encode()
        # One write() of an O_APPEND file: lines from concurrent processes don't interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def replay(self, store: Store) -> int:
        """Write spooled failures into ``store``; returns how many. Keeps what still fails."""
        if not self.path.exists():
            return 0
        claimed = self.path.with_suffix(f".replaying.{os.getpid()}")
        try:
            os.replace(self.path, claimed)  # a concurrent append now starts a new spool file
        except FileNotFoundError:
            return 0
        written, kept = 0, []
        for raw in claimed.read_text(encoding="utf-8", errors="replace").splitlines():
            if not raw.strip():
                continue
            try:
                failure = Failure(**json.loads(raw))
            except (ValueError, TypeError) as exc:
                log.warning("Skipping an unreadable spooled failure (%s): %.200s", exc, raw)
                continue
            try:
                store.record_failure(failure)
                written += 1
            except Exception as exc:  # noqa: BLE001 - keep it for the next replay
                log.warning("Spooled failure %s.%s still cannot be stored: %s", failure.dag_id, failure.task_id, exc)
                kept.append(failure)
        for failure in kept:
            self.append(failure)
        claimed.unlink(missing_ok=True)
        if written:
            log.info("Replayed %d spooled failure(s) from %s", written, self.path)
        return written

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as fh:
            return sum(1 for line in fh if line.strip())


def record_failure(failure: Failure, config: HealerConfig, store: Store | None = None) -> str | None:
    """Store ``failure`` within ``config.callback_timeout_seconds``; spool it otherwise.

    Returns the incident id, or ``None`` when the failure was spooled. Never raises.
    """
    result: dict[str, object] = {}

    def _write() -> None:
        try:
            target = store or open_store(config.store_url, timeout=config.callback_timeout_seconds)
            result["id"] = target.record_failure(failure)
        except BaseException as exc:  # noqa: BLE001 - reported below, spooled
            result["error"] = exc

    worker = threading.Thread(target=_write, name="healer-record", daemon=True)
    worker.start()
    worker.join(config.callback_timeout_seconds)
    if "id" in result:
        return str(result["id"])
    reason = result.get("error") or f"no answer within {config.callback_timeout_seconds:g}s"
    try:
        Spool(config.spool_dir).append(failure)
        log.warning("Healer store unavailable (%s); spooled the failure of %s.%s to %s",
                    reason, failure.dag_id, failure.task_id, config.spool_dir)
    except Exception as exc:  # noqa: BLE001 - the last resort is the task log
        log.error("Healer could neither store nor spool the failure of %s.%s: %s; %s",
                  failure.dag_id, failure.task_id, reason, exc)
    return None
