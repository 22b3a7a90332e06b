"""The ``[healer]`` configuration as one plain object.

Values come from ``AIRFLOW__HEALER__<KEY>`` environment variables, then the ``[healer]`` section
of ``$AIRFLOW_HOME/airflow.cfg``, then the defaults below (the same ones ``get_provider_info()``
declares to Airflow). Reading them needs no Airflow import, so callbacks, the CLI and the UI all
see the same settings at no cost.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_healer.exceptions import ConfigurationError

MODES = ("observe", "recommend", "act")
EXTERNAL_JOB_TYPES = ("dataflow", "workflows", "bigquery")


def _items(text: str) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def airflow_home(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("AIRFLOW_HOME") or Path.home() / "airflow")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: str, name: str = "duration") -> float:
    """``90``, ``90s``, ``30m``, ``12h``, ``1d``, ``2w`` as seconds."""
    text = str(value).strip().lower()
    try:
        if text and text[-1] in _UNITS:
            seconds = float(text[:-1]) * _UNITS[text[-1]]
        else:
            seconds = float(text)
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise ConfigurationError(f"{name} is {value!r}; use a positive number of seconds or 90s, 30m, 12h, 1d.")
    return seconds


@dataclass(frozen=True)
class HealerConfig:
    """Settings of the healer; every field is a ``[healer]`` option of the same name.

    :param store_url: where incidents live; ``sqlite:///path`` (default ``$AIRFLOW_HOME/healer.db``) or
        ``postgresql+psycopg://user:password@host/db``.
    :param mode: ``observe`` records only, ``recommend`` proposes, ``act`` runs safe strategies.
    :param airflow_api_conn_id: Airflow connection with the REST API's address and credentials.
    :param pubsub_topic: ``projects/P/topics/T`` to publish incidents to (empty: don't publish).
    :param model_path: a classifier model file to use instead of the store's active model.
    :param max_attempts: how many times the healer retries one task in one run before giving up.
    :param min_confidence: below this the classification is ``unknown`` and the healer escalates.
    :param retry_backoff_seconds: first retry delay; doubles with each attempt.
    :param retry_backoff_max_seconds: cap of the retry delay.
    :param poll_interval_seconds: how often the healer task looks at the run's task instances.
    :param defer_settle_seconds: a deferred healer task, watchdog or external-job sensor is resumed no
        sooner than this after it deferred, so that Airflow's scheduler has seen the deferring try end
        (see :mod:`airflow_healer.triggers._settle`).
    :param callback_timeout_seconds: most time a failure callback spends writing an incident.
    :param spool_dir: where incidents wait when the store cannot be written.
    :param approval_timeout: how long a proposal waits for a person (``30m``, ``1h``, ``1d``); the run then
        ends failed with the reason.
    :param credential_sources: JSON object from connection id to where its fresh secret lives
        (``file:///path``, ``gcp-secret-manager://projects/P/secrets/S[/versions/V]``).
    :param gcp_conn_id: the Google Cloud connection used to read Secret Manager.
    :param watchdog_include: comma-separated glob patterns of the DAG ids the watchdog watches.
    :param watchdog_exclude: comma-separated glob patterns of DAG ids it leaves alone.
    :param watchdog_heal: patterns of DAG ids whose failures the watchdog also heals (retries);
        empty by default: it records and classifies everywhere, and heals nothing on its own.
    :param watchdog_lookback: how far back its first cycle looks (``90s``, ``30m``, ``12h``, ``1d``).
    :param watchdog_interval: how often the watchdog DAG runs (same units); ``none`` to run it by hand.
    :param watchdog_poll_seconds: how often its trigger asks the API for new failures.
    :param watchdog_settle_seconds: failures younger than this are left to the DAG's own healer task
        (which records a killed try after 15 s); the watchdog takes them on a later cycle.
    :param watchdog_manual_wait_seconds: how long a run triggered by hand waits for a failure to record
        before it skips (a scheduled run waits until shortly before the next one).
    :param watchdog_max_per_cycle: failed task instances one cycle handles at most (the rest wait).
    :param watchdog_learn_per_cycle: successful tries whose logs one cycle learns boilerplate from.
    :param pubsub_subscription: ``projects/P/subscriptions/S`` the consumer pulls incidents (or Cloud Logging
        entries of failed jobs) from into the store (empty: no consumer).
    :param pubsub_dead_letter_topic: ``projects/P/topics/T`` where messages the consumer cannot read go;
        required with ``pubsub_subscription``.
    :param pubsub_timeout_seconds: most time a callback waits for Pub/Sub to take an incident before it
        spools it for a later replay.
    :param external_jobs: the services whose jobs are polled (``dataflow,workflows,bigquery``; empty: none).
    :param external_projects: the projects polled (comma-separated; empty: the project of ``gcp_conn_id``).
    :param external_locations: the regions polled for Dataflow and Workflows (comma-separated).
    :param external_workflows: the Cloud Workflows ids polled (comma-separated; empty: every workflow).
    :param external_interval: how often the ``healer_external_jobs`` DAG polls (``5m``; ``none``: by hand).
    :param external_lookback: how far back the first poll looks.
    :param external_heal: glob patterns of the external job names the healer may act on (rerun, relaunch,
        update workers); empty by default: it records, classifies and proposes only.
    :param dataflow_relaunch: JSON object from a Dataflow job-name glob to how to relaunch it: ``template``
        (classic, ``gs://...``) or ``flex_template`` (``gs://...json``), ``parameters`` and a ``ladder`` of
        environment rungs (``{"machine_type": ..., "max_workers": ...}``) for resource errors.
    """

    store_url: str = ""
    mode: str = "act"
    airflow_api_conn_id: str = "healer_api"
    pubsub_topic: str = ""
    model_path: str = ""
    max_attempts: int = 3
    min_confidence: float = 0.35
    retry_backoff_seconds: float = 5.0
    retry_backoff_max_seconds: float = 300.0
    poll_interval_seconds: float = 3.0
    defer_settle_seconds: float = 10.0
    callback_timeout_seconds: float = 5.0
    spool_dir: str = ""
    approval_timeout: str = "1h"
    credential_sources: str = ""
    gcp_conn_id: str = "google_cloud_default"
    watchdog_include: str = "*"
    watchdog_exclude: str = ""
    watchdog_heal: str = ""
    watchdog_lookback: str = "1d"
    watchdog_interval: str = "10m"
    watchdog_poll_seconds: float = 30.0
    watchdog_settle_seconds: float = 30.0
    watchdog_manual_wait_seconds: float = 60.0
    watchdog_max_per_cycle: int = 500
    watchdog_learn_per_cycle: int = 5
    pubsub_subscription: str = ""
    pubsub_dead_letter_topic: str = ""
    pubsub_timeout_seconds: float = 2.0
    external_jobs: str = ""
    external_projects: str = ""
    external_locations: str = "us-central1"
    external_workflows: str = ""
    external_interval: str = "5m"
    external_lookback: str = "1d"
    external_heal: str = ""
    dataflow_relaunch: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(f"[healer] mode is {self.mode!r}; use one of {', '.join(MODES)}.")
        if self.max_attempts < 0:
            raise ConfigurationError("[healer] max_attempts must be 0 or more.")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigurationError("[healer] min_confidence must be between 0 and 1.")
        for name in ("watchdog_lookback", "watchdog_interval", "approval_timeout", "external_lookback",
                     "external_interval"):
            value = getattr(self, name)
            if not (name in ("watchdog_interval", "external_interval") and value.strip().lower() in ("none", "")):
                duration_seconds(value, f"[healer] {name}")
        if self.watchdog_max_per_cycle < 1:
            raise ConfigurationError("[healer] watchdog_max_per_cycle must be 1 or more.")
        for name in ("watchdog_poll_seconds", "watchdog_manual_wait_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"[healer] {name} must be more than 0 seconds.")
        if self.watchdog_settle_seconds < 0 or self.watchdog_learn_per_cycle < 0:
            raise ConfigurationError("[healer] watchdog_settle_seconds and watchdog_learn_per_cycle must be 0 or more.")
        if self.pubsub_timeout_seconds <= 0:
            raise ConfigurationError("[healer] pubsub_timeout_seconds must be more than 0 seconds.")
        unknown = set(self.external_job_types) - set(EXTERNAL_JOB_TYPES)
        if unknown:
            raise ConfigurationError(f"[healer] external_jobs names {', '.join(sorted(unknown))}; use any of "
                                     f"{', '.join(EXTERNAL_JOB_TYPES)} (comma-separated).")
        if self.pubsub_subscription and not self.pubsub_dead_letter_topic:
            raise ConfigurationError("[healer] pubsub_subscription is set but pubsub_dead_letter_topic is not: set it "
                                     "to a topic (projects/P/topics/T) for the messages the consumer cannot read.")
        self.dataflow_relaunch_rules  # noqa: B018 - parses, so a bad JSON is said at start
        home = airflow_home()
        if not self.store_url:
            object.__setattr__(self, "store_url", f"sqlite:///{home / 'healer.db'}")
        if not self.spool_dir:
            object.__setattr__(self, "spool_dir", str(home / "healer_spool"))

    @property
    def approval_timeout_seconds(self) -> float:
        return duration_seconds(self.approval_timeout, "[healer] approval_timeout")

    @property
    def watchdog_lookback_seconds(self) -> float:
        return duration_seconds(self.watchdog_lookback, "[healer] watchdog_lookback")

    @property
    def watchdog_interval_seconds(self) -> float | None:
        """Seconds between watchdog runs, or None when it only runs by hand."""
        if self.watchdog_interval.strip().lower() in ("none", ""):
            return None
        return duration_seconds(self.watchdog_interval, "[healer] watchdog_interval")

    @property
    def external_job_types(self) -> list[str]:
        return _items(self.external_jobs)

    @property
    def external_project_ids(self) -> list[str]:
        return _items(self.external_projects)

    @property
    def external_location_ids(self) -> list[str]:
        return _items(self.external_locations)

    @property
    def external_workflow_ids(self) -> list[str]:
        return _items(self.external_workflows)

    @property
    def external_lookback_seconds(self) -> float:
        return duration_seconds(self.external_lookback, "[healer] external_lookback")

    @property
    def external_interval_seconds(self) -> float | None:
        if self.external_interval.strip().lower() in ("none", ""):
            return None
        return duration_seconds(self.external_interval, "[healer] external_interval")

    @property
    def dataflow_relaunch_rules(self) -> dict[str, dict[str, Any]]:
        """``dataflow_relaunch`` parsed: job-name glob -> {template | flex_template, parameters, ladder}."""
        if not self.dataflow_relaunch.strip():
            return {}
        try:
            rules = json.loads(self.dataflow_relaunch)
        except ValueError as exc:
            raise ConfigurationError(f"[healer] dataflow_relaunch is not JSON ({exc}).") from None
        if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
            raise ConfigurationError('[healer] dataflow_relaunch must be a JSON object of job-name glob to '
                                     '{"template": "gs://...", "parameters": {...}, "ladder": [...]}.')
        for pattern, rule in rules.items():
            if bool(rule.get("template")) == bool(rule.get("flex_template")):
                raise ConfigurationError(f"[healer] dataflow_relaunch[{pattern!r}] needs one of template "
                                         "(gs://... of a classic template) or flex_template (gs://....json).")
            if not isinstance(rule.get("ladder", []), list) or not isinstance(rule.get("parameters", {}), dict):
                raise ConfigurationError(f"[healer] dataflow_relaunch[{pattern!r}]: ladder is a list of environment "
                                         "rungs and parameters an object of strings.")
        return rules

    def replace(self, **changes: Any) -> HealerConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> HealerConfig:
        """Read the settings from the environment and ``airflow.cfg`` (see the module docstring)."""
        environ = dict(os.environ if environ is None else environ)
        home = airflow_home(environ)
        values: dict[str, str] = {
            "store_url": f"sqlite:///{home / 'healer.db'}",
            "spool_dir": str(home / "healer_spool"),
        }
        cfg_path = Path(environ.get("AIRFLOW_CONFIG") or home / "airflow.cfg")
        if cfg_path.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(cfg_path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"Cannot read {cfg_path}: {exc}") from exc
            if parser.has_section("healer"):
                values.update((k, v) for k, v in parser.items("healer") if v.strip())
        prefix = "AIRFLOW__HEALER__"
        values.update({k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix) and v.strip()})

        kwargs: dict[str, Any] = {}
        extra: dict[str, str] = {}
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        for key, raw in values.items():
            f = fields.get(key)
            if f is None:
                extra[key] = raw
                continue
            kind = type(f.default)
            try:
                kwargs[key] = kind(raw.strip()) if kind in (int, float) else raw.strip()
            except ValueError as exc:
                raise ConfigurationError(f"[healer] {key} = {raw!r} is not a valid {kind.__name__}.") from exc
        return cls(**kwargs, extra=extra)
