"""Incidents over Pub/Sub, against the real emulator (the Google Cloud CLI's, started here on loopback).

- publish latency of `publish_incident` as a failure callback calls it: the first (cold: the client and its
  channel are made) and then p50/p99 over N warm calls, each waiting for Pub/Sub's answer;
- consumer throughput into a SQLite store (messages/s), for M events published beforehand;
- how long a callback is held when Pub/Sub is down (a closed port): about `pubsub_timeout_seconds`.

Usage: python bench/bench_pubsub.py [publishes] [consumed]     (defaults 1000 and 5000)
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run from anywhere: the emulator helper lives with the tests of the checkout this script is in.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.gcp.emulator import PubSubEmulator, free_port, missing  # noqa: E402

PROJECT = "healer-bench"
COLD = """
import logging, time
from airflow_healer.core.capture import make_failure
from airflow_healer.core.config import HealerConfig
from airflow_healer.gcp.pubsub import publish_incident
config = HealerConfig.load().replace(pubsub_topic="{topic}", spool_dir="{spool}")
for n in range(2):
    started = time.perf_counter()
    assert publish_incident(make_failure(dag_id="bench", task_id="cold", run_id="r", try_number=n + 1), config)
    print((time.perf_counter() - started) * 1000)
"""
MESSAGE = "HTTPSConnectionPool(host='api.example.com', port=443): Read timed out. (read timeout={n})"


def _failure(n: int):
    from airflow_healer.core.capture import make_failure

    return make_failure(dag_id="bench", task_id=f"task_{n % 50}", run_id=f"run_{n // 50}", try_number=n % 3 + 1,
                        operator="PythonOperator", message=MESSAGE.format(n=n), hostname="bench")


def _event(n: int) -> tuple[bytes, dict[str, str]]:
    from airflow_healer.gcp.pubsub import incident_event

    return incident_event(_failure(n))


def _row(label: str, value: str) -> None:
    print(f"  {label:<52} {value}")


def _latencies(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    _row(label, f"n={len(ms):5d}  p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  max {ms[-1]:7.2f} ms")


def main(publishes: int = 1000, consumed: int = 5000) -> None:
    why = missing()
    if why:
        sys.exit(f"bench_pubsub: {why}")
    logging.getLogger("airflow_healer").setLevel(logging.ERROR)  # a warning a spooled event drowns the figures
    with tempfile.TemporaryDirectory() as home, PubSubEmulator() as emulator:
        os.environ["AIRFLOW_HOME"] = home
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
        from airflow_healer.core.config import HealerConfig
        from airflow_healer.core.store import open_store
        from airflow_healer.gcp.pubsub import consume, publish_incident, subscriber_client

        topic = f"projects/{PROJECT}/topics/incidents"
        subscription = f"projects/{PROJECT}/subscriptions/healer"
        config = HealerConfig.load().replace(
            pubsub_topic=topic, pubsub_subscription=subscription, pubsub_dead_letter_topic=topic + "-dead",
            spool_dir=str(Path(home) / "spool"), pubsub_timeout_seconds=2.0)
        print(f"Pub/Sub emulator on {emulator.host}; pubsub_timeout_seconds={config.pubsub_timeout_seconds:g}")

        from google.cloud import pubsub_v1

        admin, subscriber = pubsub_v1.PublisherClient(), subscriber_client()
        for name in (topic, config.pubsub_dead_letter_topic):
            admin.create_topic(name=name)
        subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)

        print("publish_incident, as a failure callback calls it (waits for Pub/Sub's answer)")
        cold = subprocess.run([sys.executable, "-c", COLD.format(topic=topic, spool=config.spool_dir)],
                              capture_output=True, text=True, check=True).stdout.split()
        _row("first call of a task process (imports google.cloud, makes the client)", f"{float(cold[0]):7.1f} ms")
        _row("its second call", f"{float(cold[1]):7.1f} ms")
        timings = []
        for n in range(1, publishes + 1):
            started = time.perf_counter()
            ok = publish_incident(_failure(n), config)
            timings.append(time.perf_counter() - started)
            assert ok, "a publish to the emulator was spooled"
        _latencies("warm client", timings)

        # Top up to `consumed` events on the subscription, published in bulk (not what is measured).
        futures = []
        for n in range(publishes + 1, consumed + 1):
            data, attributes = _event(n)
            futures.append(admin.publish(topic, data, **attributes))
        for future in futures:
            future.result(timeout=60)
        store = open_store(f"sqlite:///{Path(home) / 'central.db'}")
        started = time.perf_counter()
        waiting = consumed + len(cold)  # the cold process's events are on the subscription too
        report = consume(config, store, max_messages=waiting, timeout=600)
        took = time.perf_counter() - started
        print(f"consumer into SQLite: {report.summary()}")
        _row(f"throughput ({report.received} messages)", f"{report.received / took:7.0f} messages/s  ({took:.2f} s)")

        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{free_port()}"  # nothing listens: Pub/Sub is down
        held = []
        for n in range(3):  # a topic each: none knows of the outage yet, as in a fresh task process
            started = time.perf_counter()
            assert not publish_incident(_failure(n), config.replace(pubsub_topic=f"{topic}-{n}"))
            held.append(time.perf_counter() - started)
        print("Pub/Sub down (closed port): the callback is held, then spools")
        _row("held per failure (3 calls)", ", ".join(f"{s * 1000:.0f} ms" for s in held))
        started = time.perf_counter()
        assert not publish_incident(_failure(9), config.replace(pubsub_topic=f"{topic}-0"))
        _row("the next failure in the same process (outage known)", f"{(time.perf_counter() - started) * 1000:.2f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
