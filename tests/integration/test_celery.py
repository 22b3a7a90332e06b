"""A distributed Airflow heals itself: CeleryExecutor, Redis, PostgreSQL, two workers on two queues.

The failing task runs on worker A, the healer task on worker B, and the healer store is PostgreSQL,
shared by every process (task processes on both workers, the triggerer, this test). The tries are
read from Airflow's API, the incidents through the store's public API.
"""

from __future__ import annotations

import collections
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from airflow_healer.core.store import open_store
from airflow_healer.core.types import IncidentStatus
from tests.cluster import WORKERS, LocalCeleryAirflow

pytestmark = [pytest.mark.integration, pytest.mark.celery]

ROOT = Path(__file__).resolve().parents[2]
WORKER_A, WORKER_B = WORKERS
#: The queues the DAGs in dags_celery/ put their work and their healer on.
WORK_QUEUE, HEALER_QUEUE = WORKERS[WORKER_A], WORKERS[WORKER_B]
BURST = 20
TASK = "fetch_orders"
#: How a healer task ends in a healed run: it finished, or it was deferred when the retry succeeded.
HEALER_DONE = {"success", "skipped"}


def _skip_without(package: str, present: bool) -> None:
    if not present:
        note = ROOT / ".venv" / f".{package}-missing"
        pytest.skip(note.read_text().strip() if note.exists() else
                    f"Debian's {package} is missing: scripts/bootstrap.sh installs it.")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from tests.services import LocalPostgres, LocalRedis, postgres_bin

    _skip_without("postgresql", postgres_bin() is not None)
    _skip_without("redis-server", shutil.which("redis-server") is not None or Path("/usr/bin/redis-server").exists())
    dags = tmp_path_factory.mktemp("dags_celery")
    for source in (ROOT / "tests" / "integration" / "dags_celery").glob("*.py"):
        shutil.copy(source, dags / source.name)
    with LocalPostgres() as postgres, LocalRedis() as redis:
        store_url = postgres.create_database("healer")
        airflow = LocalCeleryAirflow(
            tmp_path_factory.mktemp("airflow_home"), dags_folder=dags,
            database_url=postgres.create_database("airflow"), broker_url=redis.url,
            env={
                "AIRFLOW__HEALER__STORE_URL": store_url,
                "AIRFLOW__HEALER__RETRY_BACKOFF_SECONDS": "1",
                "AIRFLOW__HEALER__POLL_INTERVAL_SECONDS": "1",
                "AIRFLOW__HEALER__MAX_ATTEMPTS": "2",
            })
        try:
            airflow.start()
            yield airflow
        finally:
            airflow.stop()
        assert not airflow.leftovers(), "the distributed Airflow left processes behind"


@pytest.fixture(scope="module")
def store(cluster):
    """The healer's store as every component sees it (the URL they were given)."""
    return open_store(cluster.env["AIRFLOW__HEALER__STORE_URL"])


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def wait_for_runs(cluster, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, str]:
    """Each run's final state, all within one deadline."""
    deadline = time.monotonic() + timeout
    return {run_id: cluster.wait_for_run(dag_id, run_id, timeout=max(deadline - time.monotonic(), 1.0))
            for run_id in run_ids}


def describe(cluster, dag_id: str, run_ids: list[str]) -> str:
    """What a failing assertion shows: each run's tries (state, hostname) and the components' last words."""
    lines = []
    for run_id in run_ids:
        for task_id in (TASK, "healer"):
            try:
                tries = [(t["try_number"], t["state"], t.get("hostname"))
                         for t in cluster.task_tries(dag_id, run_id, task_id)]
            except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
                tries = f"unreadable: {exc}"
            lines.append(f"{run_id} {task_id}: {tries}")
    return "\n".join(lines) + "\n" + cluster.log_tails()


def worker_log_names(cluster, worker: str, run_id: str, task_id: str) -> bool:
    """Whether the worker's own log says it executed that task of that run (Celery's executor logs each one)."""
    text = cluster.log_path_of(worker).read_text(errors="replace")
    return any("Executing workload" in line and f"task_id='{task_id}'" in line and run_id in line
               for line in text.splitlines())


def test_one_run_fails_on_worker_a_and_heals_from_worker_b(cluster, store):
    run_id = cluster.trigger("it_celery_heal")
    [state] = wait_for_runs(cluster, "it_celery_heal", [run_id], timeout=180).values()
    assert state == "success", describe(cluster, "it_celery_heal", [run_id])

    tries = cluster.task_tries("it_celery_heal", run_id, TASK)
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")], \
        describe(cluster, "it_celery_heal", [run_id])
    assert {(t["hostname"], t["queue"]) for t in tries} == {(WORKER_A, WORK_QUEUE)}
    healer = cluster.task_tries("it_celery_heal", run_id, "healer")
    # Deferred while the retry ran: once everything it follows succeeded, Airflow skips it (one_failed).
    assert healer[-1]["state"] in HEALER_DONE
    assert {(t["hostname"], t["queue"]) for t in healer} == {(WORKER_B, HEALER_QUEUE)}
    # The workers' own logs agree with what the task processes told the API.
    assert worker_log_names(cluster, WORKER_A, run_id, TASK)
    assert worker_log_names(cluster, WORKER_B, run_id, "healer")
    assert not worker_log_names(cluster, WORKER_B, run_id, TASK)

    [summary] = store.list_incidents(dag_id="it_celery_heal", run_id=run_id)
    incident = store.get_incident(summary.id)
    assert (incident.task_id, incident.status) == (TASK, IncidentStatus.RECOVERED)
    assert incident.error_type.value == "network_timeout"
    assert [(a.strategy, str(a.outcome)) for a in incident.actions] == [("retry", "success")]
    assert incident.failures[0].hostname == WORKER_A  # the callback ran on worker A and recorded where


def test_twenty_runs_failing_at_once_each_heal_once(cluster, store):
    cluster.wait_for_dag("it_celery_burst")
    run_ids = [cluster.trigger("it_celery_burst") for _ in range(BURST)]
    states = wait_for_runs(cluster, "it_celery_burst", run_ids, timeout=300)
    assert set(states.values()) == {"success"}, describe(
        cluster, "it_celery_burst", [r for r, s in states.items() if s != "success"])
    # They were all running at once: the last to start started before the first to end ended.
    runs = [r for r in cluster.api("GET", "/api/v2/dags/it_celery_burst/dagRuns", params={"limit": 100})["dag_runs"]
            if r["dag_run_id"] in states]
    assert max(_moment(r["start_date"]) for r in runs) < min(_moment(r["end_date"]) for r in runs)

    # Airflow's side: every run's task failed once and ran once more, on worker A; no try was cleared twice.
    for run_id in run_ids:
        tries = cluster.task_tries("it_celery_burst", run_id, TASK)
        assert [(t["try_number"], t["state"], t["hostname"]) for t in tries] == [
            (1, "failed", WORKER_A), (2, "success", WORKER_A)], describe(cluster, "it_celery_burst", [run_id])
        healer = cluster.task_tries("it_celery_burst", run_id, "healer")
        assert {t["hostname"] for t in healer} == {WORKER_B} and healer[-1]["state"] in HEALER_DONE, run_id

    # The store's side: one incident a run, none doubled, each recovered by exactly one retry.
    incidents = store.list_incidents(dag_id="it_celery_burst", limit=10 * BURST)
    assert sorted(i.run_id for i in incidents) == sorted(run_ids)
    for summary in incidents:
        incident = store.get_incident(summary.id)
        assert incident.status == IncidentStatus.RECOVERED, (incident.run_id, incident.reason)
        assert [(a.strategy, str(a.outcome)) for a in incident.actions] == [("retry", "success")], incident.run_id
        assert [f.try_number for f in incident.failures] == [1]

    # One act per failed try: the ledger's act_once entries and who holds each try.
    acts = collections.Counter(
        (e["payload"]["run_id"], e["payload"]["try_number"]) for e in store.ledger(limit=100_000)
        if e["kind"] == "act_once" and e["payload"]["dag_id"] == "it_celery_burst")
    assert acts == collections.Counter({(run_id, 1): 1 for run_id in run_ids})
    for run_id in run_ids:
        assert store.acted_by("it_celery_burst", run_id, TASK, -1, 1), run_id
        assert store.acted_by("it_celery_burst", run_id, TASK, -1, 2) is None, run_id
