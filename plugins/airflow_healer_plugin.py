"""For a plugins/ folder install (a Composer bucket) where airflow_healer is not pip-installed as a package
with its entry points. A pip-installed airflow_healer registers the plugin through the ``airflow.plugins``
entry point already, so this file then defines nothing (Airflow would skip a second copy with a warning).
"""

from importlib.metadata import entry_points

if not any(ep.value.startswith("airflow_healer.plugin") for ep in entry_points(group="airflow.plugins")):
    from airflow_healer.plugin import HealerPlugin  # noqa: F401
