"""The Airflow plugin: mounts the healer's app on the API server and puts the Healer page in Airflow's
navigation (shown inside Airflow's UI, with its look and its login). Nothing else happens here."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_healer.ui.app import create_app


class HealerPlugin(AirflowPlugin):
    name = "airflow_healer"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/healer", "name": "Healer"}]
    # url_route: Airflow's UI shows the page in its own frame at /plugin/healer.
    external_views = [{"name": "Healer", "href": "/healer/", "destination": "nav", "url_route": "healer",
                       "category": "browse"}]
