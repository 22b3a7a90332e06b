"""One real Airflow (``airflow standalone``) for the whole session, on loopback, in a temp AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from airflow_healer.standalone import LocalAirflow, _group_alive

ROOT = Path(__file__).resolve().parents[2]
MAX_ATTEMPTS = 2
#: A failed test shows what Airflow's tasks logged while it ran: at most this much of each log file.
LOG_LINES_SHOWN = 40
#: How long a proposal waits for a person here: the expiry test waits that long.
APPROVAL_TIMEOUT_SECONDS = 75
SETUP_TEARDOWN_EXAMPLES = ("example_setup_teardown", "example_setup_teardown_taskflow")
SELF_HEALING_FOOTER = """

from airflow.sdk import DAG as _DAG

from airflow_healer import self_healing as _self_healing

for _dag in [v for v in list(globals().values()) if isinstance(v, _DAG)]:
    _self_healing(_dag)
"""


@pytest.fixture(scope="session")
def fake_bigquery():
    """BigQuery's REST API on loopback: the real client in Airflow's workers and triggerer talks to it."""
    from tests.integration.fake_bigquery import FakeBigQuery

    with FakeBigQuery(project="it-project") as fake:
        yield fake


@pytest.fixture(scope="session")
def airflow(tmp_path_factory, fake_bigquery, airflow_database):
    home = tmp_path_factory.mktemp("airflow_home")
    # The project's DAGs (examples and the watchdog) plus DAGs that exist for these tests only.
    dags = tmp_path_factory.mktemp("dags")
    for source in [*(ROOT / "dags").glob("*.py"), *(ROOT / "tests" / "integration" / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)
    # Airflow's own setup/teardown examples, made self-healing: they must still load and run.
    import airflow.example_dags

    for name in SETUP_TEARDOWN_EXAMPLES:
        source = Path(airflow.example_dags.__file__).parent / f"{name}.py"
        (dags / f"it_{name}.py").write_text(source.read_text() + SELF_HEALING_FOOTER)
    secret = tmp_path_factory.mktemp("secrets") / "it_warehouse"
    secret.write_text("rotated-by-vault\n")  # what a Vault agent would have written after a rotation
    env = {
        **airflow_database("it_airflow"),
        "AIRFLOW__HEALER__CREDENTIAL_SOURCES": json.dumps({"it_warehouse": f"file://{secret}"}),
        # Healer tasks wait without a worker slot (deferred, or in awaiting_input), so a few slots are enough
        # for the self-healing DAGs that fail together here.
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__HEALER__APPROVAL_TIMEOUT": f"{APPROVAL_TIMEOUT_SECONDS}s",
        "AIRFLOW__HEALER__RETRY_BACKOFF_SECONDS": "1",
        "AIRFLOW__HEALER__POLL_INTERVAL_SECONDS": "1",
        "AIRFLOW__HEALER__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        # The watchdog runs when a test triggers it, and looks at failures a few seconds old.
        "AIRFLOW__HEALER__WATCHDOG_INTERVAL": "none",
        "AIRFLOW__HEALER__WATCHDOG_POLL_SECONDS": "2",
        "AIRFLOW__HEALER__WATCHDOG_SETTLE_SECONDS": "3",
        "AIRFLOW__HEALER__WATCHDOG_LEARN_PER_CYCLE": "3",
        "AIRFLOW__HEALER__WATCHDOG_MANUAL_WAIT_SECONDS": "12",
        # Jobs outside Airflow: BigQuery's (the loopback one), polled when a test triggers healer_external_jobs.
        "BIGQUERY_EMULATOR_HOST": fake_bigquery.host,
        "AIRFLOW__HEALER__EXTERNAL_JOBS": "bigquery",
        "AIRFLOW__HEALER__EXTERNAL_PROJECTS": "it-project",
        "AIRFLOW__HEALER__EXTERNAL_INTERVAL": "none",
    }
    # No plugins folder: the plugin must load through the installed package, as it does for pip users.
    instance = LocalAirflow(home, dags_folder=dags, env=env)
    instance.start()
    pgid = os.getpgid(instance.process.pid)
    yield instance
    instance.stop()
    assert not _group_alive(pgid), "airflow standalone left processes behind"


@pytest.fixture(scope="session")
def runs(airflow):
    """Both example DAGs, triggered together and waited for once: {dag_id: (run_id, final state)}."""
    # The warehouse's connection lives in the metadata database with the password from before the rotation.
    airflow.api("POST", "/api/v2/connections", json={
        "connection_id": "it_warehouse", "conn_type": "postgres", "host": "warehouse.internal", "login": "etl",
        "password": "before-rotation"})
    run_ids = {dag_id: airflow.trigger(dag_id)
               for dag_id in ("example_self_healing", "example_always_failing", "example_bash_self_healing",
                              "it_wired_lost_log", "example_rescale", "it_ceiling", "it_refresh", "it_retry_policy",
                              "it_deferred", *SETUP_TEARDOWN_EXAMPLES)}
    return {dag_id: (run_id, airflow.wait_for_run(dag_id, run_id, timeout=400)) for dag_id, run_id in run_ids.items()}


_STARTED = pytest.StashKey[tuple[float, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    instance = item.funcargs.get("airflow")
    if isinstance(instance, LocalAirflow):
        size = instance.log_path.stat().st_size if instance.log_path.exists() else 0
        item.stash[_STARTED] = (time.time(), size)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test against the real Airflow shows the task logs written while it ran: a run that ended
    ``failed`` says why only there, and the temporary AIRFLOW_HOME is gone by the time anyone looks."""
    report = yield
    instance = item.funcargs.get("airflow") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(instance, LocalAirflow) and _STARTED in item.stash:
        since, offset = item.stash[_STARTED]
        for path, lines in task_logs_since(Path(instance.home) / "logs", since):
            report.sections.append((f"task log {path}", "\n".join(lines)))
        report.sections.append(("airflow standalone's warnings and errors", "\n".join(
            standalone_trouble(instance.log_path, offset))))
    return report


def standalone_trouble(path: Path, offset: int) -> list[str]:
    """The last warning, error and traceback lines the scheduler, triggerer and the others wrote after
    ``offset`` of ``standalone.log``."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError as exc:
        return [f"cannot read {path}: {exc}"]
    marks = ("[warning", "[error", "[critical", "WARNING", "ERROR", "Traceback")
    return [line for line in text.splitlines() if any(m in line for m in marks)][-LOG_LINES_SHOWN:]


def task_logs_since(logs: Path, since: float) -> list[tuple[str, list[str]]]:
    """(path under ``logs``, its last lines as ``time level event``) of each task log written after ``since``."""
    found = []
    for path in sorted(logs.glob("dag_id=*/**/*.log*")):
        try:
            if path.stat().st_mtime < since:
                continue
            raw = path.read_text(errors="replace").splitlines()[-LOG_LINES_SHOWN:]
        except OSError:
            continue
        found.append((str(path.relative_to(logs)), [_log_line(line) for line in raw]))
    return found


def _log_line(line: str) -> str:
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict):
        return line
    said = [event.get("timestamp", ""), event.get("level", ""), str(event.get("event", ""))]
    for error in event.get("error_detail") or []:  # the exception chain, without its frames
        frame = (error.get("frames") or [{}])[-1]
        said.append(f"| {error.get('exc_type')}: {error.get('exc_value')} (at {frame.get('filename')}:"
                    f"{frame.get('lineno')})")
    return " ".join(said)
