"""Capture a failed task: the one line a DAG author adds.

::

    from airflow_healer import on_failure_callback
    PythonOperator(..., on_failure_callback=on_failure_callback)

or ``on_failure_callback=HealerNotifier()`` to pass settings. The callback runs in the task's own
process after the failure; it is bounded in time (``[healer] callback_timeout_seconds``, plus
``pubsub_timeout_seconds`` when it publishes to ``pubsub_topic``), never raises, and spools the
incident (or its event) to a local file when the store (or Pub/Sub) cannot be reached.
"""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier

from airflow_healer.core.capture import attach_log, make_failure, record_failure
from airflow_healer.core.config import HealerConfig
from airflow_healer.core.types import Failure

log = logging.getLogger(__name__)

NO_EXCEPTION = (
    "The task failed without a Python exception (killed from outside: heartbeat timeout, OOM, "
    "or its state was set by the scheduler); see the task log."
)


def _airflow_redactor() -> Callable[[str], str] | None:
    """Airflow's secrets masker, which knows the connection passwords and sensitive variables."""
    try:
        from airflow.sdk.log import redact
    except ImportError:
        try:
            from airflow.sdk._shared.secrets_masker import redact
        except ImportError:
            return None
    return lambda text: str(redact(text))


@functools.lru_cache(maxsize=4)
def _filename_template(template: str) -> Any:
    import jinja2  # compiling it costs milliseconds: once per process, not once per failure

    return jinja2.Template(template)


def local_log_path(ti: Any) -> Path | None:
    """The try's log file on this machine, where Airflow's file task handler writes it (or None).

    Reading it is the callback's fast path; with remote logging only, or a log elsewhere, the healer
    task and the watchdog read the log through the REST API instead.
    """
    try:
        try:
            from airflow.sdk.configuration import conf
        except ImportError:  # Airflow 3.0/3.1
            from airflow.configuration import conf
        base = conf.get("logging", "base_log_folder", fallback="")
        template = conf.get("logging", "log_filename_template", fallback="")
        if not base:
            return None
        if template:
            relative = _filename_template(template).render(ti=ti, try_number=ti.try_number)
        else:
            map_index = ti.map_index if ti.map_index is not None else -1
            map_part = f"map_index={map_index}/" if map_index >= 0 else ""
            relative = f"dag_id={ti.dag_id}/run_id={ti.run_id}/task_id={ti.task_id}/{map_part}attempt={ti.try_number}.log"
        path = Path(base) / relative
        return path if path.is_file() else None
    except Exception:  # noqa: BLE001 - no fast path; the API path remains
        return None


def task_conn_ids(task: Any) -> list[str]:
    """The Airflow connections a task uses: its ``conn_id`` and ``*_conn_id`` attributes (the providers'
    convention), so that an authentication failure knows which connections to refresh."""
    found: set[str] = set()
    for name, value in (vars(task).items() if task is not None and hasattr(task, "__dict__") else ()):
        if (name == "conn_id" or name.endswith("_conn_id")) and isinstance(value, str) and value:
            found.add(value)
    return sorted(found)


def failure_from_context(context: Mapping[str, Any]) -> Failure:
    """Build a redacted :class:`Failure` from an Airflow task context, with its log's telling lines."""
    ti = context["ti"]
    task = context.get("task")
    exception = context.get("exception")
    message = None
    if not isinstance(exception, BaseException):
        # The DAG processor runs callbacks of killed tasks with a reason string, or nothing.
        message = str(exception) if exception else context.get("reason") or NO_EXCEPTION
        exception = None
    started = getattr(ti, "start_date", None)
    redactor = _airflow_redactor()
    failure = make_failure(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1),
        try_number=int(getattr(ti, "try_number", 1) or 1),
        operator=getattr(task, "task_type", None) or getattr(ti, "operator", None),
        exception=exception,
        message=message,
        hostname=getattr(ti, "hostname", None) or socket.gethostname(),
        started_at=started.isoformat() if started is not None else None,
        source="callback",
        redactor=redactor,
        conn_ids=task_conn_ids(task),
    )
    path = local_log_path(ti)
    if path is not None:
        from airflow_healer.core.logs import read_tail

        try:
            attach_log(failure, read_tail(path), redactor=redactor)
        except Exception:  # noqa: BLE001 - the exception alone still makes an incident
            log.warning("airflow_healer could not read the task log %s", path, exc_info=True)
    return failure


def capture(context: Mapping[str, Any], config: HealerConfig | None = None) -> str | None:
    """Record the failure in ``context``; returns the incident id (None if spooled or on error)."""
    try:
        config = config or HealerConfig.load()
        failure = failure_from_context(context)
        incident_id = record_failure(failure, config)
        if incident_id:
            log.info("airflow_healer recorded incident %s for %s.%s try %s",
                     incident_id, failure.dag_id, failure.task_id, failure.try_number)
        if config.pubsub_topic:
            try:
                from airflow_healer.gcp.pubsub import publish_incident

                publish_incident(failure, config, incident_id=incident_id)  # bounded; spools, never raises
            except Exception:  # noqa: BLE001 - the incident is recorded; only its event is missing
                log.exception("airflow_healer could not publish this failure to %s", config.pubsub_topic)
        return incident_id
    except Exception:  # noqa: BLE001 - a failure callback must never make things worse
        log.exception("airflow_healer could not capture this failure; the task's own log has the error")
        return None


def on_failure_callback(context: Mapping[str, Any]) -> None:
    """``on_failure_callback=`` for any task: records the failure for the healer."""
    capture(context)


def on_success_callback(context: Mapping[str, Any]) -> None:
    """``on_success_callback=`` that :func:`~airflow_healer.self_healing` adds: a retried try that succeeded
    settles the healer's action on it, in case the healer task cannot (Airflow skips a ``one_failed`` healer
    as soon as every task it follows has succeeded). A first try returns at once, without the store."""
    try:
        ti = context["ti"]
        if int(getattr(ti, "try_number", 1) or 1) < 2:
            return
        from airflow_healer.core.healer import Healer
        from airflow_healer.core.remediate.run import record_recovery

        settled = record_recovery(Healer(HealerConfig.load()), ti.dag_id, ti.run_id, ti.task_id,
                                  int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None
                                      else -1), int(ti.try_number))
        if settled:
            log.info("airflow_healer: try %s succeeded; the incident of %s.%s is recovered", ti.try_number,
                     ti.dag_id, ti.task_id)
    except Exception:  # noqa: BLE001 - a success callback must never fail the task
        log.exception("airflow_healer could not record this recovery; the healer task records it if it runs")


class HealerNotifier(BaseNotifier):
    """The failure callback as a notifier, for settings per DAG or task.

    :param overrides: ``[healer]`` settings to use instead of the configured ones
        (for example ``store_url=...`` or ``callback_timeout_seconds=2``).
    """

    def __init__(self, **overrides: Any):
        super().__init__()
        self.overrides = overrides

    def notify(self, context: Mapping[str, Any]) -> None:
        try:
            config = HealerConfig.load().replace(**self.overrides) if self.overrides else None
        except Exception:  # noqa: BLE001
            log.exception("airflow_healer: invalid HealerNotifier settings %s; using the configured ones",
                          self.overrides)
            config = None
        capture(context, config)
