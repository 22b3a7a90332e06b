"""Incidents as Pub/Sub events: published by callbacks and the watchdog, consumed into a store.

Publishing is bounded and loses nothing::

    failure ──> publish_incident ──> [healer] pubsub_topic
                      │ no answer within pubsub_timeout_seconds, or an error
                      └──> <spool_dir>/pubsub.jsonl ──> replay_pubsub_spool (watchdog cycle, CLI)

The client's own retries end within the same budget, so a task whose callback gave up leaves nothing
retrying behind it. An event the spool replays may have reached Pub/Sub already (an answer that came
too late): the consumer knows it by its key and does not make it a second incident.

:func:`consume` pulls ``[healer] pubsub_subscription``: our incident events, and Cloud Logging entries of
failing Dataflow steps as a log sink exports them (they become incidents of the external job, and its
``pipeline_jobs`` row). It acknowledges a message only once the store has it; a message it cannot read
goes to ``[healer] pubsub_dead_letter_topic`` with why, and is acknowledged only once that topic has it.

``google.cloud`` is imported by the functions that talk to Pub/Sub, never when this module loads.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_healer.core.capture import (
    MAX_EXCERPT_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_TRACEBACK_CHARS,
    make_failure,
)
from airflow_healer.core.normalize import fingerprint, to_text
from airflow_healer.core.redact import redact
from airflow_healer.core.store.base import utcnow
from airflow_healer.core.types import Failure
from airflow_healer.exceptions import ConfigurationError
from airflow_healer.gcp.jobs import RUNNING, TERMINAL, ExternalJob

if TYPE_CHECKING:
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.store import Store

log = logging.getLogger(__name__)

SCHEMA = "airflow_healer.incident/1"
SCHEMA_PREFIX = "airflow_healer.incident/"
SPOOL_FILE = "pubsub.jsonl"
#: Pub/Sub takes 10 MB a message; an incident is capped far below (its texts are capped at capture), and
#: a callback should not push megabytes. The consumer reads nothing larger either.
MAX_EVENT_BYTES = 1_000_000
#: Pub/Sub's limits on attributes: 1024 bytes a value, 100 attributes a message.
MAX_ATTRIBUTE_BYTES = 1024
MAX_ATTRIBUTES = 100
#: After a publish failed, the same topic is not tried again for this long: the rest of a watchdog cycle
#: spools at once instead of waiting ``pubsub_timeout_seconds`` for every failure it records.
OUTAGE_SECONDS = 30.0
#: A replay or a dead letter is not a callback: it may wait longer than ``pubsub_timeout_seconds``.
PATIENT_SECONDS = 10.0
REPLAY_CHUNK = 1000
#: Messages pulled at once; fewer when classifying, so that a batch is done well within its ack deadline.
PULL_BATCH, PULL_BATCH_CLASSIFYING = 500, 50
#: How long one pull waits for messages; an empty answer ends the consumer's run.
PULL_WAIT_SECONDS = 5.0
MAX_ID_CHARS = 1000
MAX_LOG_LINES = 200
EXTERNAL_DATAFLOW = "external:dataflow"
#: Cloud Logging's severities; ERROR and above make an incident.
SEVERITIES = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400, "ERROR": 500,
              "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800}
ERROR_SEVERITY = 500

# -- the event ------------------------------------------------------------------------------------


def _cut(text: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    """``text`` within ``limit`` UTF-8 bytes; a cut value ends with a digest of the whole, so two long
    values that share their start stay different."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return raw[:limit - 17].decode("utf-8", "ignore") + "#" + digest


def event_id(failure: Failure) -> str:
    """The key of one failed try: a consumer that sees it twice has seen one try."""
    return f"{failure.dag_id}/{failure.run_id}/{failure.task_id}/{failure.map_index}/{failure.try_number}"


def _type_name(error_type: object) -> str | None:
    if error_type is None:
        return None
    return str(getattr(error_type, "value", error_type)) or None


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


_KEYS = ("schema", "dag_id", "task_id", "run_id")


def _fit(body: dict[str, Any]) -> bytes:
    """``body`` as JSON within :data:`MAX_EVENT_BYTES`: the located log lines go first, then every long
    text keeps less of its head and tail, until it fits."""
    data = _dumps(body)
    if len(data) <= MAX_EVENT_BYTES:
        return data
    body = {**body, "log_lines": [], "truncated": True}
    limit = MAX_EVENT_BYTES // 8
    while True:
        body = {k: to_text(v, limit) if isinstance(v, str) and k not in _KEYS else v for k, v in body.items()}
        body["conn_ids"] = [to_text(c, 250) for c in body.get("conn_ids", [])[:50]]
        data = _dumps(body)
        if len(data) <= MAX_EVENT_BYTES or limit < 64:
            return data
        limit //= 4


def incident_event(failure: Failure, incident_id: str | None = None,
                   error_type: object = None) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of one failed try: its JSON body and its attributes.

    :param failure: as :func:`~airflow_healer.core.capture.make_failure` made it (redacted, capped).
    :param incident_id: the incident the store gave it (None when it was spooled).
    :param error_type: its classification when known (an ``ErrorType`` or its value).
    :returns: the body (``schema`` :data:`SCHEMA`, the failure's fields, ``incident_id``, ``error_type``)
        and the attributes subscribers filter on: ``dag_id``, ``task_id``, ``error_type`` (empty when
        unknown), ``fingerprint``, ``event_id`` (``dag_id/run_id/task_id/map_index/try_number``),
        ``source`` and ``schema``, each within Pub/Sub's 1024 bytes.
    """
    kind = _type_name(error_type)
    body = {"schema": SCHEMA, "incident_id": incident_id, "error_type": kind, "emitted_at": utcnow(),
            **asdict(failure)}
    attributes = {"schema": SCHEMA, "event_id": event_id(failure), "dag_id": failure.dag_id,
                  "task_id": failure.task_id, "error_type": kind or "", "fingerprint": failure.fingerprint,
                  "source": failure.source}
    return _fit(body), {k: _cut(str(v)) for k, v in attributes.items()}


# -- clients: one per process (a forked child makes its own: gRPC channels do not survive a fork) -----


@functools.lru_cache(maxsize=8)
def _publisher(pid: int, emulator: str) -> Any:
    from google.cloud import pubsub_v1

    # A callback publishes one message: a short batching window; a replay still batches by count.
    return pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.002))


@functools.lru_cache(maxsize=8)
def _subscriber(pid: int, emulator: str) -> Any:
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def publisher_client() -> Any:
    """This process's ``PublisherClient`` (``PUBSUB_EMULATOR_HOST`` picks the emulator)."""
    return _publisher(os.getpid(), os.environ.get("PUBSUB_EMULATOR_HOST", ""))


def subscriber_client() -> Any:
    """This process's ``SubscriberClient``."""
    return _subscriber(os.getpid(), os.environ.get("PUBSUB_EMULATOR_HOST", ""))


def _retry(seconds: float) -> Any:
    """Retries of transient errors that end within ``seconds`` (the client's default goes on for minutes)."""
    from google.api_core import exceptions as gexc
    from google.api_core.retry import Retry, if_exception_type

    transient = if_exception_type(gexc.Aborted, gexc.Cancelled, gexc.DeadlineExceeded, gexc.InternalServerError,
                                  gexc.ResourceExhausted, gexc.ServiceUnavailable, gexc.Unknown)
    return Retry(predicate=transient, initial=0.05, maximum=max(min(seconds / 4, 1.0), 0.05), multiplier=2.0,
                 timeout=seconds)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {to_text(str(exc), 300)}"


def _publish_many(topic: str, events: list[tuple[bytes, dict[str, str]]], seconds: float) -> list[str]:
    """Publish ``events`` to ``topic``, waiting at most ``seconds`` in all (making the client included).

    :returns: for each event, ``""`` when Pub/Sub took it, else why not.
    """
    deadline = time.monotonic() + seconds
    outcomes = [f"no answer from Pub/Sub within {seconds:g}s"] * len(events)

    def _work() -> None:
        try:
            client = publisher_client()
            # The client gives up a little before we stop waiting: its answer, not our timeout, decides.
            left = max((deadline - time.monotonic()) * 0.9, 0.05)
            retry = _retry(left)
            futures = []
            for i, (data, attributes) in enumerate(events):
                try:
                    futures.append((i, client.publish(topic, data, retry=retry, timeout=left, **attributes)))
                except Exception as exc:  # noqa: BLE001 - this one is spooled, the others go on
                    outcomes[i] = _why(exc)
            for i, future in futures:
                try:
                    future.result(timeout=max(deadline - time.monotonic(), 0.0))
                    outcomes[i] = ""
                except Exception as exc:  # noqa: BLE001 - said, and spooled by the caller
                    outcomes[i] = _why(exc)
        except BaseException as exc:  # noqa: BLE001 - no client (no credentials, no library): all spooled
            outcomes[:] = [_why(exc)] * len(events)

    # A thread bounds what the client cannot: making it may look for credentials for seconds.
    worker = threading.Thread(target=_work, name="healer-pubsub", daemon=True)
    worker.start()
    worker.join(seconds)
    return list(outcomes)


def _append(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of an O_APPEND file: lines of concurrent callbacks do not interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _spool(config: HealerConfig, topic: str, data: bytes, attributes: dict[str, str], reason: str) -> None:
    line = {"topic": topic, "data": data.decode("utf-8"), "attributes": attributes, "spooled_at": utcnow(),
            "reason": reason}
    _append(Path(config.spool_dir) / SPOOL_FILE, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))


#: (emulator, topic) -> when to try it again, after a publish failed.
_outage: dict[tuple[str, str], float] = {}


def publish_incident(failure: Failure, config: HealerConfig, incident_id: str | None = None,
                     error_type: object = None) -> bool:
    """Publish ``failure`` to ``config.pubsub_topic`` within ``config.pubsub_timeout_seconds``.

    Returns True when Pub/Sub took it; False when no topic is set, or when it was spooled for
    :func:`replay_pubsub_spool` (Pub/Sub unreachable, slow, refusing). Never raises.
    """
    topic = config.pubsub_topic
    if not topic:
        return False
    try:
        data, attributes = incident_event(failure, incident_id, error_type)
        key = (os.environ.get("PUBSUB_EMULATOR_HOST", ""), topic)
        if _outage.get(key, 0.0) > time.monotonic():
            reason = f"a publish to {topic} failed less than {OUTAGE_SECONDS:g}s ago"
        else:
            reason = _publish_many(topic, [(data, attributes)], config.pubsub_timeout_seconds)[0]
        if not reason:
            _outage.pop(key, None)
            return True
        _outage[key] = time.monotonic() + OUTAGE_SECONDS
    except Exception as exc:  # noqa: BLE001 - a callback must never fail because of Pub/Sub
        log.error("Healer could not publish the failure of %s.%s: %s", failure.dag_id, failure.task_id, exc)
        return False
    try:
        _spool(config, topic, data, attributes, reason)
        log.warning("Pub/Sub did not take the failure of %s.%s (%s); spooled it to %s", failure.dag_id,
                    failure.task_id, reason, config.spool_dir)
    except Exception as exc:  # noqa: BLE001 - the last resort is the task log
        log.error("Healer could neither publish nor spool the failure of %s.%s: %s; %s", failure.dag_id,
                  failure.task_id, reason, exc)
    return False


def _claim(path: Path) -> list[Path]:
    """Take the spool (appends now start a new file), and what a replay that died left behind."""
    claimed = []
    for left in path.parent.glob(f"{path.stem}.replaying.*"):
        try:
            os.kill(int(left.name.split(".")[2]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            claimed.append(left)
        except PermissionError:
            pass  # alive, someone else's
    mine = path.with_name(f"{path.stem}.replaying.{os.getpid()}.{time.time_ns()}")
    try:
        os.replace(path, mine)
        claimed.append(mine)
    except FileNotFoundError:
        pass
    return claimed


def spooled_events(config: HealerConfig) -> int:
    """How many events wait in the Pub/Sub spool."""
    path = Path(config.spool_dir) / SPOOL_FILE
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def replay_pubsub_spool(config: HealerConfig) -> int:
    """Publish the spooled events to ``config.pubsub_topic``; returns how many Pub/Sub took.

    What still fails stays spooled; once a whole chunk fails, the rest is not tried this time.
    Never raises.
    """
    if not config.pubsub_topic:
        return 0
    path = Path(config.spool_dir) / SPOOL_FILE
    try:
        claimed = _claim(path)
    except OSError as exc:
        log.warning("Could not claim the Pub/Sub spool %s: %s", path, exc)
        return 0
    try:
        published = _replay(config, path, claimed)
    except Exception as exc:  # noqa: BLE001 - what was claimed stays on disk for a later replay
        log.warning("Could not replay the Pub/Sub spool %s: %s", path, exc)
        return 0
    if published:
        _outage.pop((os.environ.get("PUBSUB_EMULATOR_HOST", ""), config.pubsub_topic), None)
        log.info("Replayed %d spooled event(s) to %s", published, config.pubsub_topic)
    return published


def _replay(config: HealerConfig, path: Path, claimed: list[Path]) -> int:
    """Publish the claimed files' events, append back what Pub/Sub did not take, remove the files."""
    lines: list[bytes] = []
    for part in claimed:
        lines.extend(raw for raw in part.read_bytes().splitlines() if raw.strip())
    events, keep, published = [], [], 0
    for raw in lines:
        try:
            line = json.loads(raw)
            events.append((raw, line["data"].encode("utf-8"), {str(k): str(v) for k, v in line["attributes"].items()}))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("Moving an unreadable spooled event aside (%s): %.200s", exc, raw)
            _append(path.with_name("pubsub.unreadable.jsonl"), raw + b"\n")
    seconds = max(config.pubsub_timeout_seconds, PATIENT_SECONDS)
    for start in range(0, len(events), REPLAY_CHUNK):
        chunk = events[start:start + REPLAY_CHUNK]
        if keep and not published:  # Pub/Sub is down: keep the rest for the next replay
            keep.extend(raw for raw, _, _ in chunk)
            continue
        outcomes = _publish_many(config.pubsub_topic, [(data, attrs) for _, data, attrs in chunk], seconds)
        published += sum(1 for reason in outcomes if not reason)
        keep.extend(raw for (raw, _, _), reason in zip(chunk, outcomes, strict=True) if reason)
        if any(outcomes):
            log.warning("%d spooled event(s) still cannot be published: %s", sum(map(bool, outcomes)),
                        next(r for r in outcomes if r))
    for raw in keep:
        _append(path, raw + b"\n")
    for part in claimed:
        part.unlink(missing_ok=True)
    return published


# -- reading a message --------------------------------------------------------------------------

INCIDENT, LOG_ENTRY, MALFORMED = "incident", "log_entry", "malformed"


@dataclass
class ParsedMessage:
    """What a pulled message holds.

    :param kind: :data:`INCIDENT` (our event), :data:`LOG_ENTRY` (a Dataflow step's error, as a Cloud
        Logging sink exports it) or :data:`MALFORMED`.
    :param failure: the failed try it tells of (redacted and capped here too: the topic is not ours alone).
    :param job: for a log entry, the Dataflow job.
    :param reason: for a malformed message, why it cannot be read.
    """

    kind: str
    failure: Failure | None = None
    job: ExternalJob | None = None
    reason: str = ""


def _malformed(reason: str) -> ParsedMessage:
    return ParsedMessage(MALFORMED, reason=reason)


def parse_message(data: bytes) -> ParsedMessage:
    """Read one message's data; never raises (what cannot be read is :data:`MALFORMED`, with why)."""
    if len(data) > MAX_EVENT_BYTES:
        return _malformed(f"{len(data)} bytes: more than the {MAX_EVENT_BYTES} an incident event may have")
    try:
        body = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _malformed("not UTF-8 text (binary data?)")
    except (ValueError, RecursionError) as exc:
        return _malformed(f"not JSON ({to_text(str(exc), 200)})")
    if not isinstance(body, dict):
        return _malformed(f"a JSON {type(body).__name__}, not an object")
    if isinstance(body.get("schema"), str) and body["schema"].startswith(SCHEMA_PREFIX):
        return _incident(body)
    if "logName" in body and isinstance(body.get("resource"), dict):
        return _log_entry(body)
    return _malformed(f"neither an incident event (schema {SCHEMA}) nor a Cloud Logging entry (logName, resource)")


_TEXTS = {"message": MAX_MESSAGE_CHARS, "traceback": MAX_TRACEBACK_CHARS, "log_excerpt": MAX_EXCERPT_CHARS}
_OPTIONAL = ("operator", "exception_type", "hostname", "started_at", "failed_at", "captured_at")


def _incident(body: dict[str, Any]) -> ParsedMessage:
    if body["schema"] != SCHEMA:
        return _malformed(f"schema {to_text(body['schema'], 100)!r}: this healer reads {SCHEMA}")
    values: dict[str, Any] = {}
    for name in ("dag_id", "task_id", "run_id"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
            return _malformed(f"{name} is missing, empty or longer than {MAX_ID_CHARS} characters")
        values[name] = value
    for name, default in (("map_index", -1), ("try_number", 1)):
        value = body.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            return _malformed(f"{name} is not an integer")
        values[name] = value
    for name in _OPTIONAL:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return _malformed(f"{name} is not text")
        values[name] = to_text(value, 250) if value is not None else None
    for name, limit in _TEXTS.items():
        value = body.get(name) or ""
        if not isinstance(value, str):
            return _malformed(f"{name} is not text")
        values[name] = redact(to_text(value, limit))
    for name in ("fingerprint", "source", "log_note"):
        value = body.get(name) or ""
        if not isinstance(value, str):
            return _malformed(f"{name} is not text")
        values[name] = to_text(value, 1000)
    lines, conn_ids = body.get("log_lines") or [], body.get("conn_ids") or []
    if not isinstance(lines, list) or not isinstance(conn_ids, list):
        return _malformed("log_lines or conn_ids is not a list")
    values["log_lines"] = [{**line, "text": redact(to_text(line["text"], 2000))} for line in lines[:MAX_LOG_LINES]
                           if isinstance(line, dict) and isinstance(line.get("text"), str)]
    values["conn_ids"] = sorted({to_text(c, 250) for c in conn_ids if isinstance(c, str)})
    values["source"] = values["source"] or "pubsub"
    failure = Failure(**values)
    failure.fingerprint = failure.fingerprint or fingerprint(f"{failure.exception_type or ''}: {failure.message}")
    return ParsedMessage(INCIDENT, failure=failure)


def _severity(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return SEVERITIES.get(str(value or "DEFAULT").upper(), 0)


def _log_entry(entry: dict[str, Any]) -> ParsedMessage:
    resource = entry["resource"]
    kind = resource.get("type")
    if kind != "dataflow_step":
        return _malformed(f"a Cloud Logging entry of resource type {to_text(kind, 100)!r}: only dataflow_step "
                          "entries become incidents (narrow the log sink's filter)")
    severity = entry.get("severity", "DEFAULT")
    if _severity(severity) < ERROR_SEVERITY:
        return _malformed(f"a Cloud Logging entry of severity {to_text(severity, 20)}: only ERROR and above "
                          "become incidents (add severity>=ERROR to the log sink's filter)")
    labels = resource.get("labels")
    labels = {str(k): v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}
    job_id = labels.get("job_id", "")
    if not job_id.strip() or len(job_id) > MAX_ID_CHARS:
        return _malformed("a Dataflow log entry without resource.labels.job_id")
    payload = entry.get("jsonPayload") if isinstance(entry.get("jsonPayload"), dict) else {}
    text = entry.get("textPayload") or payload.get("message")
    if not isinstance(text, str) or not text.strip():
        return _malformed("a Dataflow log entry with no textPayload or jsonPayload.message")
    exception = payload.get("exception") if isinstance(payload.get("exception"), str) else ""
    job_name = to_text(labels.get("job_name") or job_id, MAX_ID_CHARS)
    log_name = entry.get("logName") if isinstance(entry.get("logName"), str) else ""
    project = labels.get("project_id") or (log_name.split("/")[1] if log_name.startswith("projects/") else "")
    at = entry.get("timestamp") if isinstance(entry.get("timestamp"), str) else None
    failure = make_failure(dag_id=EXTERNAL_DATAFLOW, task_id=job_name, run_id=job_id, try_number=1,
                           operator="DataflowJob", message=text, traceback=exception, source="pubsub")
    failure.failed_at = at or failure.failed_at
    # An error entry says a step failed, not that the job did (Dataflow retries work items): running, unless a
    # poll saw it end (the row keeps what a poll saw).
    job = ExternalJob(job_type="dataflow", job_id=job_id, job_name=job_name, status=RUNNING,
                      state=f"log entry {to_text(severity, 20)}", project=to_text(project, 250),
                      location=to_text(labels.get("region", ""), 100), changed_at=at or utcnow(),
                      error_message=failure.message,
                      labels={k: to_text(v, 250) for k, v in labels.items() if k == "step_id"})
    return ParsedMessage(LOG_ENTRY, failure=failure, job=job)


# -- the consumer -----------------------------------------------------------------------------------


@dataclass
class ConsumeReport:
    """What one :func:`consume` run did.

    :param received: messages pulled.
    :param stored: new failed tries in the store (or new text of an external job's incident).
    :param duplicates: messages of tries the store had already (redelivered, replayed): acknowledged.
    :param dead_lettered: malformed messages put on the dead-letter topic, then acknowledged.
    :param failed: messages left unacknowledged (the store or the dead-letter topic failed): redelivered.
    :param classified: incidents the healer classified.
    """

    subscription: str = ""
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed: int = 0
    classified: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        log.warning("Pub/Sub consumer: %s", text)
        if len(self.errors) < 20:
            self.errors.append(text)

    def summary(self) -> str:
        return (f"{self.received} message(s) from {self.subscription}: {self.stored} stored, {self.duplicates} "
                f"duplicate(s), {self.dead_lettered} dead-lettered, {self.failed} failed (left for redelivery), "
                f"{self.classified} classified" + (f"; {len(self.errors)} error(s)" if self.errors else ""))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _store_event(store: Store, failure: Failure) -> tuple[str, bool]:
    """(incident id, whether the store had this try already)."""
    known = store.find_incident(failure.dag_id, failure.run_id, failure.task_id, failure.map_index)
    if known is not None and any(f.try_number == failure.try_number for f in known.failures):
        return known.id, True
    return store.record_failure(failure), False


def _store_log_entry(store: Store, failure: Failure) -> tuple[str, bool]:
    """One incident per Dataflow job: a later entry adds its text to the incident's message."""
    known = store.find_incident(failure.dag_id, failure.run_id, failure.task_id, failure.map_index)
    if known is not None:
        if failure.message in known.message:
            return known.id, True
        failure = dataclasses.replace(
            failure, message=to_text(f"{known.message}\n{failure.message}", MAX_MESSAGE_CHARS),
            traceback=failure.traceback or known.traceback, fingerprint=known.fingerprint or failure.fingerprint)
    return store.record_failure(failure), False


def _keep_job(store: Store, job: ExternalJob, incident_id: str) -> None:
    """The job's ``pipeline_jobs`` row; what a poll saw of it (times, a final status) is kept."""
    incident = store.get_incident(incident_id)
    seen = store.get_pipeline_job(job.job_id) or {}
    row = job.row(incident_id=incident_id, error_type=incident.error_type.value if incident and incident.error_type
                  else seen.get("error_type"))
    row["error_message"] = incident.message if incident else job.error_message
    if seen.get("status") in TERMINAL:
        row["status"] = seen["status"]
    for key in ("start_time", "end_time", "duration_seconds", "project", "location"):
        row[key] = row[key] or seen.get(key)
    store.upsert_pipeline_job(row)


#: Names the client's ``publish()`` takes as its own arguments: an attribute of that name is renamed.
_RESERVED = frozenset({"self", "topic", "data", "ordering_key", "retry", "timeout"})


def _dead_letter(config: HealerConfig, message: Any, reason: str) -> str:
    """Put ``message`` on the dead-letter topic, as it came plus why; returns "" once the topic has it.

    Its attributes are kept, except that one named like an argument of ``publish()`` (``topic``, ``data``,
    ``timeout``...) becomes ``healer_original_<name>``, and the three ``healer_*`` ones are added.
    """
    attributes = {f"healer_original_{k}" if k in _RESERVED else k: v
                  for k, v in list(message.attributes.items())[:MAX_ATTRIBUTES - 3]}
    attributes.update(healer_reason=_cut(reason), healer_subscription=_cut(config.pubsub_subscription),
                      healer_message_id=_cut(message.message_id))
    seconds = max(config.pubsub_timeout_seconds, PATIENT_SECONDS)
    return _publish_many(config.pubsub_dead_letter_topic, [(bytes(message.data), attributes)], seconds)[0]


def _classify(healer: Healer, store: Store, incident_id: str, report: ConsumeReport) -> None:
    try:
        incident = store.get_incident(incident_id)
        if incident is not None and incident.error_type is None:
            healer.classify(incident)
            report.classified += 1
    except Exception as exc:  # noqa: BLE001 - the incident is stored; it stays unclassified
        report.error(f"could not classify incident {incident_id}: {_why(exc)}")


def _heal_running(config: HealerConfig, healer: Healer, job: ExternalJob, report: ConsumeReport,
                  job_source: Callable[..., Any] | None) -> None:
    """A running streaming job whose steps report resource errors, named by ``[healer] external_heal``: read
    the job (kind, Streaming Engine, workers) and let the external healer raise its worker range."""
    from airflow_healer.gcp.heal import ExternalHealer

    external = ExternalHealer(healer)
    if not external.wants(job):
        return
    try:
        if job_source is None:
            from airflow_healer.gcp.sources import source_for as job_source
        live = job_source("dataflow", job.project, job.location, config.gcp_conn_id).get(job.job_id)
        if live.status != RUNNING or live.details.get("job_kind") != "streaming":
            return  # a batch job's failure, if it comes, is the poller's (or a sensor's) to heal
        incident = healer.store.find_incident(EXTERNAL_DATAFLOW, job.job_id, job.job_name)
        live.error_message = incident.message if incident is not None else job.error_message
        live.job_name = job.job_name
        outcome = external.observe(live)
        if outcome.reason:
            log.info("Dataflow job %s: %s", job.job_id, outcome.reason)
    except Exception as exc:  # noqa: BLE001 - the incident is stored; healing it waits for the next entry
        report.error(f"could not heal running Dataflow job {job.job_id}: {_why(exc)}")


def _handle(config: HealerConfig, store: Store, healer: Healer | None, received: Any,
            report: ConsumeReport, job_source: Callable[..., Any] | None = None) -> bool:
    """Store (or dead-letter) one pulled message; returns whether it may be acknowledged."""
    message = received.message
    parsed = parse_message(bytes(message.data))
    if parsed.kind == MALFORMED:
        problem = _dead_letter(config, message, parsed.reason)
        if problem:
            report.failed += 1
            report.error(f"message {message.message_id} ({parsed.reason}) could not be dead-lettered: {problem}")
            return False
        report.dead_lettered += 1
        log.warning("Dead-lettered Pub/Sub message %s: %s", message.message_id, parsed.reason)
        return True
    assert parsed.failure is not None
    try:
        if parsed.kind == INCIDENT:
            incident_id, duplicate = _store_event(store, parsed.failure)
        else:
            incident_id, duplicate = _store_log_entry(store, parsed.failure)
        if healer is not None:
            _classify(healer, store, incident_id, report)
        if parsed.job is not None:
            _keep_job(store, parsed.job, incident_id)
    except Exception as exc:  # noqa: BLE001 - not acknowledged: Pub/Sub delivers it again
        report.failed += 1
        report.error(f"message {message.message_id} could not be stored: {_why(exc)}")
        return False
    if duplicate:
        report.duplicates += 1
    else:
        report.stored += 1
        if healer is not None and parsed.job is not None:
            _heal_running(config, healer, parsed.job, report, job_source)
    return True


def _pulls(subscriber: Any, subscription: str, batch: int, budget: int, deadline: float,
           report: ConsumeReport) -> Iterator[list[Any]]:
    """Batches of pulled messages until the subscription is empty, ``budget`` is pulled or time is up."""
    from google.api_core import exceptions as gexc

    while budget > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        wait = min(left, PULL_WAIT_SECONDS)
        try:
            response = subscriber.pull(request={"subscription": subscription, "max_messages": min(batch, budget)},
                                       retry=_retry(wait), timeout=wait)
        except gexc.DeadlineExceeded:
            return  # nothing came within the wait
        except gexc.RetryError as exc:
            if not isinstance(exc.cause, gexc.DeadlineExceeded):
                report.error(f"could not pull {subscription}: {_why(exc.cause or exc)}")
            return
        except Exception as exc:  # noqa: BLE001 - said in the report; the next run pulls again
            report.error(f"could not pull {subscription}: {_why(exc)}")
            return
        messages = list(response.received_messages)
        if not messages:
            return
        budget -= len(messages)
        yield messages


def consume(config: HealerConfig, store: Store, *, healer: Healer | None = None, max_messages: int = 500,
            timeout: float = 60.0, job_source: Callable[..., Any] | None = None) -> ConsumeReport:
    """Pull up to ``max_messages`` from ``config.pubsub_subscription`` into ``store``, for at most ``timeout``
    seconds (a batch being stored is finished). A batch in which a message could not be kept ends the run:
    those messages are delivered again, to the next run, rather than retried against a failing store.

    :param healer: when given, incidents that have no error type yet are classified (and stored so), and a
        running streaming Dataflow job that ``[healer] external_heal`` names has its worker range raised
        when its errors are resource errors (:mod:`airflow_healer.gcp.heal`).
    :param job_source: how to read a Dataflow job (tests); :func:`airflow_healer.gcp.sources.source_for`.
    :raises ConfigurationError: no subscription or no dead-letter topic is set.
    """
    if not config.pubsub_subscription or not config.pubsub_dead_letter_topic:
        raise ConfigurationError("[healer] pubsub_subscription and pubsub_dead_letter_topic must both be set to "
                                 "consume: the subscription (projects/P/subscriptions/S) to pull incidents from "
                                 "and the topic (projects/P/topics/T) for the messages that cannot be read.")
    subscription = config.pubsub_subscription
    report = ConsumeReport(subscription=subscription)
    subscriber = subscriber_client()
    batch = PULL_BATCH if healer is None else PULL_BATCH_CLASSIFYING
    deadline = time.monotonic() + timeout
    for messages in _pulls(subscriber, subscription, batch, max_messages, deadline, report):
        report.received += len(messages)
        ack, nack = [], []
        for received in messages:
            (ack if _handle(config, store, healer, received, report, job_source) else nack).append(received.ack_id)
        try:
            if ack:
                subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack},
                                       retry=_retry(PATIENT_SECONDS), timeout=PATIENT_SECONDS)
            if nack:  # deadline 0: delivered again now, not after the ack deadline
                subscriber.modify_ack_deadline(request={"subscription": subscription, "ack_ids": nack,
                                                        "ack_deadline_seconds": 0},
                                               retry=_retry(PATIENT_SECONDS), timeout=PATIENT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - they come again, and are known then
            report.error(f"could not acknowledge {len(ack)} message(s): {_why(exc)}")
        if nack:
            break  # the store (or the dead-letter topic) is failing: the next run takes them again
    log.info("Pub/Sub consumer: %s", report.summary())
    return report


__all__ = ["SCHEMA", "ConsumeReport", "ParsedMessage", "consume", "event_id", "incident_event", "parse_message",
           "publish_incident", "publisher_client", "replay_pubsub_spool", "spooled_events", "subscriber_client"]
