"""The tasks of the ``healer_external_jobs`` DAG: poll the external jobs, pull the Pub/Sub subscription."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from airflow_healer.core.config import HealerConfig


class PollExternalJobsOperator(BaseOperator):
    """One poll of every service ``[healer] external_jobs`` names, in every ``external_projects`` and
    ``external_locations``: each changed job kept as a ``pipeline_jobs`` row, each failed one an
    incident classified like any other, healed where ``external_heal`` allows. Returns the report."""

    ui_color = "#e2ecfd"

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_healer.core.healer import Healer
        from airflow_healer.gcp.poller import ExternalPoller
        from airflow_healer.gcp.sources import sources_from_config

        config = HealerConfig.load()
        sources = sources_from_config(config)
        if not sources:
            self.log.info("[healer] external_jobs is empty: nothing to poll")
            return {}
        report = ExternalPoller(Healer(config), sources, progress=self.log.info).cycle()
        self.log.info("%s", report.summary())
        for error in report.errors:
            self.log.warning("%s", error)
        return report.as_dict()


class ConsumeIncidentsOperator(BaseOperator):
    """Pull ``[healer] pubsub_subscription`` into the store: incidents other workers published and
    Cloud Logging entries of failed jobs; unreadable messages go to ``pubsub_dead_letter_topic``.
    Also replays this machine's Pub/Sub spool. Returns the report.

    :param max_messages: messages one run takes at most (the rest wait for the next run).
    """

    ui_color = "#e2ecfd"

    def __init__(self, *, max_messages: int = 5000, **kwargs: Any):
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.max_messages = max_messages

    def execute(self, context: Any) -> dict[str, Any]:
        from dataclasses import asdict

        from airflow_healer.core.healer import Healer
        from airflow_healer.gcp.pubsub import consume, replay_pubsub_spool

        config = HealerConfig.load()
        replayed = replay_pubsub_spool(config) if config.pubsub_topic else 0
        if replayed:
            self.log.info("Replayed %d spooled incident event(s) to %s", replayed, config.pubsub_topic)
        if not config.pubsub_subscription:
            self.log.info("[healer] pubsub_subscription is empty: nothing to consume")
            return {"replayed": replayed}
        healer = Healer(config)
        report = consume(config, healer.store, healer=healer, max_messages=self.max_messages)
        self.log.info("%s", report.summary())
        return {"replayed": replayed, **asdict(report)}
