"""docker-compose.yaml cannot run here (no Docker engine): check its structure and its settings."""

import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("airflow-worker-a", "airflow-worker-b")
SERVICES = {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", *WORKERS}
AIRFLOW_SERVICES = SERVICES - {"postgres", "redis"}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_airflow_3_components_on_postgres_with_healthchecks():
    services = compose()["services"]
    assert SERVICES <= services.keys()
    for name in SERVICES - {"airflow-init"}:
        assert "healthcheck" in services[name], name
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert {"./dags:/opt/airflow/dags", "./plugins:/opt/airflow/plugins"} <= set(services["airflow-scheduler"]["volumes"])


def test_the_image_installs_this_package():
    build = compose()["services"]["airflow-scheduler"]["build"]
    dockerfile = (ROOT / build["dockerfile"]).read_text()
    assert "apache/airflow:3." in dockerfile
    assert re.search(r"pip install .*constraints\.txt \"?/opt/airflow-healer\[postgres,celery\]", dockerfile)


def test_healer_settings_are_the_documented_ones():
    env = compose()["services"]["airflow-scheduler"]["environment"]
    healer = {k[len("AIRFLOW__HEALER__"):].lower(): v for k, v in env.items() if k.startswith("AIRFLOW__HEALER__")}
    assert {"store_url", "mode", "airflow_api_conn_id", "max_attempts", "min_confidence"} <= healer.keys()
    readme = (ROOT / "README.md").read_text()
    for key in healer:
        assert f"`{key}`" in readme, f"README does not document [healer] {key}"
    assert "AIRFLOW_CONN_HEALER_API" in env


def _option(command: list[str], *names: str) -> str:
    """The value of the first of ``names`` in a command line."""
    for i, word in enumerate(command):
        if word in names:
            return command[i + 1]
    raise AssertionError(f"{command} has none of {names}")


def test_celery_executor_with_redis_as_broker_everywhere():
    services = compose()["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = urlparse(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379), name
        # Results in the metadata database (SQLAlchemy's URL behind Celery's db+ prefix).
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        if name != "airflow-init":
            assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"][1:])


def test_two_workers_on_distinct_queues_each_checked_by_celery_ping():
    services = compose()["services"]
    seen = {}
    for name in WORKERS:
        command = shlex.split(services[name]["command"])
        assert command[:2] == ["celery", "worker"], name
        queues = _option(command, "-q", "--queues").split(",")
        node = _option(command, "-H", "--celery-hostname")
        seen[name] = (set(queues), node.split("@")[0])
        check = " ".join(services[name]["healthcheck"]["test"][1:])
        assert "inspect ping" in check and f"{node.split('@')[0]}@$${{HOSTNAME}}" in check, name
    (queues_a, node_a), (queues_b, node_b) = seen.values()
    assert not queues_a & queues_b and node_a != node_b
    assert "default" in queues_a  # every task that names no queue has a worker
    assert "healer" in queues_b  # the one the header comment tells DAG authors to pass to self_healing


def test_the_healer_store_is_a_postgresql_database_that_the_init_script_creates():
    services = compose()["services"]
    urls = {services[name]["environment"]["AIRFLOW__HEALER__STORE_URL"] for name in AIRFLOW_SERVICES}
    [url] = urls  # one store, shared by every component
    store = urlparse(url)
    assert store.scheme == "postgresql+psycopg" and store.hostname == "postgres"
    database = store.path.strip("/")
    assert database and database != services["postgres"]["environment"]["POSTGRES_DB"]
    [mount] = [v for v in services["postgres"]["volumes"] if v.split(":")[1] == "/docker-entrypoint-initdb.d"]
    scripts = sorted((ROOT / mount.split(":")[0]).glob("*.sql")) + sorted((ROOT / mount.split(":")[0]).glob("*.sh"))
    created = {m.group(1) for path in scripts
               for m in re.finditer(r"(?i)create\s+database\s+\"?(\w+)", path.read_text())}
    assert database in created, f"no script in {mount.split(':')[0]} creates the database {database!r}"
