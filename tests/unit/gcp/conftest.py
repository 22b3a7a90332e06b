from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_healer.core.config import HealerConfig
from tests.unit.gcp.emulator import PubSubEmulator, missing

PROJECT = "healer-test"


@pytest.fixture(scope="session")
def pubsub_emulator():
    """A real Pub/Sub emulator for the session (skips, saying why, where it cannot run)."""
    why = missing()
    if why:
        pytest.skip(why)
    emulator = PubSubEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class PubSub:
    """Fresh topics and subscriptions of one test, and the ``[healer]`` settings that name them."""

    host: str
    config: HealerConfig
    topic: str
    subscription: str
    tap: str  # a second subscription on the topic: what was published, for the test to read
    dead_letter: str  # a subscription on the dead-letter topic

    def pull(self, subscription: str, expect: int = 1, timeout: float = 10.0) -> list[Any]:
        """Acknowledge and return what ``subscription`` holds, waiting until ``expect`` messages came."""
        from airflow_healer.gcp.pubsub import subscriber_client

        client, got = subscriber_client(), []
        while len(got) < expect:
            response = client.pull(request={"subscription": subscription, "max_messages": 100}, timeout=timeout)
            if not response.received_messages:
                break
            got.extend(response.received_messages)
            client.acknowledge(request={"subscription": subscription,
                                        "ack_ids": [m.ack_id for m in response.received_messages]})
        return [m.message for m in got]

    def publish(self, data: bytes, **attributes: str) -> str:
        """Publish as any producer may, attributes named like ``publish()``'s own arguments included."""
        from google.pubsub_v1 import PublisherClient as GeneratedPublisher

        from airflow_healer.gcp.pubsub import publisher_client

        # The generated client's one-shot publish takes attributes as a map, not as keyword arguments.
        response = GeneratedPublisher.publish(publisher_client(), request={
            "topic": self.topic, "messages": [{"data": data, "attributes": attributes}]}, timeout=10)
        return response.message_ids[0]


@pytest.fixture
def pubsub(pubsub_emulator, monkeypatch, config, tmp_path) -> PubSub:
    """``PUBSUB_EMULATOR_HOST`` set for this test only; its topics, subscriptions and settings."""
    from airflow_healer.gcp.pubsub import publisher_client, subscriber_client

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    name = uuid.uuid4().hex[:12]
    topic, dead = f"projects/{PROJECT}/topics/incidents-{name}", f"projects/{PROJECT}/topics/dead-{name}"
    subscriptions = {kind: f"projects/{PROJECT}/subscriptions/{kind}-{name}" for kind in ("consumer", "tap", "dead")}
    publisher, subscriber = publisher_client(), subscriber_client()
    for path in (topic, dead):
        publisher.create_topic(name=path)
    for kind, path in subscriptions.items():
        subscriber.create_subscription(name=path, topic=dead if kind == "dead" else topic, ack_deadline_seconds=30)
    settings = config.replace(store_url=f"sqlite:///{tmp_path / 'healer.db'}", spool_dir=str(tmp_path / "spool"),
                              pubsub_topic=topic, pubsub_subscription=subscriptions["consumer"],
                              pubsub_dead_letter_topic=dead, pubsub_timeout_seconds=5.0)
    return PubSub(pubsub_emulator.host, settings, topic, subscriptions["consumer"], subscriptions["tap"],
                  subscriptions["dead"])
