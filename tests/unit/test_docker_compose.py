"""docker-compose.yaml cannot run here (no Docker engine): check its structure and its settings."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer"}


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
    assert re.search(r"pip install .*constraints\.txt /opt/airflow-healer", dockerfile)


def test_healer_settings_are_the_documented_ones():
    env = compose()["services"]["airflow-scheduler"]["environment"]
    healer = {k[len("AIRFLOW__HEALER__"):].lower(): v for k, v in env.items() if k.startswith("AIRFLOW__HEALER__")}
    assert {"store_url", "mode", "airflow_api_conn_id", "max_attempts", "min_confidence"} <= healer.keys()
    readme = (ROOT / "README.md").read_text()
    for key in healer:
        assert f"`{key}`" in readme, f"README does not document [healer] {key}"
    assert "AIRFLOW_CONN_HEALER_API" in env
