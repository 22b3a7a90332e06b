"""One real Airflow (``airflow standalone``) for the whole session, on loopback, in a temp AIRFLOW_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_healer.standalone import LocalAirflow, _group_alive

ROOT = Path(__file__).resolve().parents[2]
MAX_ATTEMPTS = 2


@pytest.fixture(scope="session")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW__HEALER__RETRY_BACKOFF_SECONDS": "1",
        "AIRFLOW__HEALER__POLL_INTERVAL_SECONDS": "1",
        "AIRFLOW__HEALER__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }
    # No plugins folder: the plugin must load through the installed package, as it does for pip users.
    instance = LocalAirflow(home, dags_folder=ROOT / "dags", env=env)
    instance.start()
    pgid = os.getpgid(instance.process.pid)
    yield instance
    instance.stop()
    assert not _group_alive(pgid), "airflow standalone left processes behind"


@pytest.fixture(scope="session")
def runs(airflow):
    """Both example DAGs, triggered together and waited for once: {dag_id: (run_id, final state)}."""
    run_ids = {dag_id: airflow.trigger(dag_id) for dag_id in ("example_self_healing", "example_always_failing")}
    return {dag_id: (run_id, airflow.wait_for_run(dag_id, run_id, timeout=400)) for dag_id, run_id in run_ids.items()}
