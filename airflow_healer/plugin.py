"""The Airflow plugin: mounts the healer's app on the API server. Nothing else happens here."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_healer.ui.app import create_app


class HealerPlugin(AirflowPlugin):
    name = "airflow_healer"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/healer", "name": "Healer"}]
